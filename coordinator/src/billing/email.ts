import nodemailer from "nodemailer";
import type { Logger } from "pino";

/** One email to send; `attachments` carry e.g. an invoice PDF. */
export interface Email {
  to: string;
  subject: string;
  text: string;
  attachments?: Array<{ filename: string; content: Buffer; contentType: string }>;
}

/** Sends billing emails (welcome, invoice, receipt, reminder, suspension). */
export interface Mailer {
  send(email: Email): Promise<void>;
  close(): void;
}

/**
 * A nodemailer transport to `smtpUrl` (`smtp://user:pass@host:port`, `smtps://...` for
 * implicit TLS), sending from `from`. Without a URL, messages are only logged (nodemailer's
 * JSON transport), so a coordinator without SMTP still runs. Send failures are logged and
 * swallowed: an email never undoes the committed change it reports.
 */
export function createMailer(options: { smtpUrl: string | undefined; from: string; log: Logger }): Mailer {
  const transport = options.smtpUrl ? nodemailer.createTransport(options.smtpUrl) : nodemailer.createTransport({ jsonTransport: true });
  return {
    async send(email) {
      try {
        await transport.sendMail({ from: options.from, ...email });
        options.log.info({ to: email.to, subject: email.subject, smtp: Boolean(options.smtpUrl) }, "billing email sent");
      } catch (error) {
        options.log.error({ err: error, to: email.to, subject: email.subject }, "billing email failed");
      }
    },
    close: () => transport.close(),
  };
}

/** Formats minor units for people: 1234 EUR -> "12.34 EUR" (two decimals; integer arithmetic only). */
export function formatMoney(amountMinor: number, currency: string): string {
  const sign = amountMinor < 0 ? "-" : "";
  const abs = Math.abs(amountMinor);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, "0")} ${currency}`;
}
