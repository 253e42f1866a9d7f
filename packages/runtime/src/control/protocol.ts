/**
 * The control channel's wire format lives in @podserve/protocol, shared by the server in every
 * runtime, `ctl`, the pod's HTTPS API and the remote CLI. Here: where a service's socket is.
 */
export type {
  ActionInfo,
  ErrorResponse,
  RuntimeFootprint,
  StatusResponse,
} from '@podserve/protocol';

/** `<run dir>/<service>.sock`: one per running service, in the service's run directory. */
export function controlSocketPath(runDir: string, service: string): string {
  return `${runDir.replace(/\/+$/, '')}/${service}.sock`;
}
