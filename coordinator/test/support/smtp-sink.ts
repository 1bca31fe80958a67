import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

/** One message the sink accepted: envelope recipients and the raw RFC 5322 text. */
export interface SunkMail {
  to: string[];
  raw: string;
  /** The raw text with quoted-printable soft line breaks and `=XX` escapes decoded (RFC 2045 section 6.7), for reading links. */
  text: string;
}

/** A real SMTP server (smtp-server) on 127.0.0.1 that keeps every message, for tests. */
export interface SmtpSink {
  url: string;
  messages: SunkMail[];
  stop(): Promise<void>;
}

function decodeQuotedPrintable(raw: string): string {
  return raw.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Starts the sink on a free loopback port (no TLS, no auth: nodemailer connects with `smtp://127.0.0.1:port`). */
export async function startSmtpSink(): Promise<SmtpSink> {
  const messages: SunkMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        messages.push({ to: session.envelope.rcptTo.map((r) => r.address), raw, text: decodeQuotedPrintable(raw) });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { url: `smtp://127.0.0.1:${port}`, messages, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
