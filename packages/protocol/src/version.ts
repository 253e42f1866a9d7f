/**
 * The protocol's version: in every path (`/v1/…`) and in every response's `PodServe-Protocol`
 * header, so a client can tell an older or newer server from a broken one. A change that an
 * old client would misread (a renamed field, a new meaning) is a new version; a new optional
 * field is not.
 */
export const PROTOCOL_VERSION = 1;
export const PROTOCOL_PATH = `/v${PROTOCOL_VERSION}`;
/** Lower case: node:http gives header names that way. */
export const PROTOCOL_HEADER = 'podserve-protocol';

/** A server that speaks another version, or no PodServe protocol at all. */
export class ProtocolMismatch extends Error {
  override readonly name = 'ProtocolMismatch';
}

/**
 * What a client does with a response's version header: nothing when it is ours, otherwise a
 * message that says which side to upgrade. `from` names the server (a URL or a socket).
 */
export function checkProtocolVersion(header: string | string[] | undefined, from: string): void {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === String(PROTOCOL_VERSION)) return;
  if (value === undefined || value === '') {
    throw new ProtocolMismatch(
      `${from} did not say which PodServe protocol it speaks (no ${PROTOCOL_HEADER} header): is it a PodServe control endpoint?`,
    );
  }
  const theirs = Number(value);
  const advice = Number.isInteger(theirs)
    ? theirs > PROTOCOL_VERSION
      ? 'this client is older than the server: use the ctl of the same PodServe release'
      : 'the server is older than this client: use the ctl of the same PodServe release'
    : 'not a version this client knows';
  throw new ProtocolMismatch(
    `${from} speaks PodServe protocol ${JSON.stringify(value)}; this client speaks ${PROTOCOL_VERSION} (${advice})`,
  );
}
