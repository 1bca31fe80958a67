import type { FastifyInstance } from "fastify";
import { AppError } from "../errors";

// CR and LF split headers, config lines and log records; NUL ends C strings in every daemon below us.
const FORBIDDEN = /[\r\n\0]/;

/** The path (e.g. `body.destinations.0`) of the first string in `value` that holds CR, LF or NUL, or null. */
function findControl(value: unknown, path: string): string | null {
  if (typeof value === "string") return FORBIDDEN.test(value) ? path : null;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const hit = findControl(item, `${path}.${i}`);
      if (hit) return hit;
    }
    return null;
  }
  if (value && typeof value === "object") {
    for (const [k, item] of Object.entries(value)) {
      const hit = FORBIDDEN.test(k) ? `${path}.${k}` : findControl(item, `${path}.${k}`);
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
 * by Node's HTTP parser.)
 */
export function registerInputGuard(app: FastifyInstance): void {
  app.addHook("preValidation", async (request) => {
    for (const [part, value] of [["body", request.body], ["query", request.query], ["params", request.params]] as const) {
      const field = findControl(value, part);
      if (field) throw new AppError("validation", `invalid ${field.replace(/^[a-z]+\./, "")}`, [{ field: field.replace(/^(body|query|params)\./, ""), message: "must not contain CR, LF or NUL" }]);
    }
  });
}
