/**
 * Imported first by the entry point so signal listeners exist before any other
 * module loads: a SIGTERM to a Node PID 1 without a listener is silently ignored.
 */
import { installSignalCapture } from './pid1/signals.js';

installSignalCapture();
