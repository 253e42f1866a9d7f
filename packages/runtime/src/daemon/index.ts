/** What services that run daemons share: bundled with them, not parsed by every process in main.js. */
export { type DaemonCertificates, DaemonService } from './daemon-service.js';
export { type RestartableProcess, reloadAndConfirm } from './reload-proof.js';
