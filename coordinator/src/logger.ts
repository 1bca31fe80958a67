import pino, { type Logger } from "pino";

/** The process logger: JSON lines on stdout, secrets redacted wherever they appear as fields. */
export function createLogger(level: string, name = "coordinator"): Logger {
  return pino({
    name,
    level,
    redact: ["password", "token", "*.password", "*.token", "req.headers.authorization", "req.headers.cookie", "joinToken", "oneTimePassword"],
  });
}
