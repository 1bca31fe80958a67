import type { FastifyInstance } from "fastify";
import { AppError } from "../errors";

// CR and LF split headers, config lines and log records; NUL ends C strings in every daemon below us.
const FORBIDDEN = /[\r\n\0]/;
/** What a multi-line text field (route config `multilineBody`) may still not hold. */
const FORBIDDEN_IN_TEXT = /\0/;

/** The path (e.g. `body.destinations.0`) of the first string in `value` that holds CR, LF or NUL (only NUL at `multiline` paths), or null. */
function findControl(value: unknown, path: string, multiline: ReadonlySet<string> = new Set()): string | null {
  if (typeof value === "string") return (multiline.has(path) ? FORBIDDEN_IN_TEXT : FORBIDDEN).test(value) ? path : null;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const hit = findControl(item, `${path}.${i}`, multiline);
      if (hit) return hit;
    }
    return null;
  }
  if (value && typeof value === "object") {
    for (const [k, item] of Object.entries(value)) {
      const hit = FORBIDDEN.test(k) ? `${path}.${k}` : findControl(item, `${path}.${k}`, multiline);
      if (hit) return hit;
    }
  }
  return null;
}

/**
 * Refuses, before any handler runs, a request whose body, query string or path parameters
 * hold CR, LF or NUL in any string (keys included): 400 `validation` naming the field. No
 * field of the API takes multi-line text, so nothing that reaches a config file, a header or
 * a shell argument can smuggle a line break or a terminator. (Headers themselves are refused
 * by Node's HTTP parser.) The one exception is a route's `config.multilineBody`: top-level
 * body fields holding a text file's content (the file manager's editor), where only NUL is refused.
 */
export function registerInputGuard(app: FastifyInstance): void {
  app.addHook("preValidation", async (request) => {
    const multiline = new Set((request.routeOptions.config.multilineBody ?? []).map((field) => `body.${field}`));
    for (const [part, value] of [["body", request.body], ["query", request.query], ["params", request.params]] as const) {
      const field = findControl(value, part, multiline);
      if (field) throw new AppError("validation", `invalid ${field.replace(/^[a-z]+\./, "")}`, [{ field: field.replace(/^(body|query|params)\./, ""), message: "must not contain CR, LF or NUL" }]);
    }
  });
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** Top-level body fields that take multi-line text (CR and LF allowed, NUL still refused). */
    multilineBody?: readonly string[];
  }
}
