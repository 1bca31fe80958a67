import { AsyncLocalStorage } from "node:async_hooks";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { Agent, get, type RequestOptions } from "node:https";
import { dirname, join } from "node:path";
import * as acme from "acme-client";
import type { AxiosResponse, InternalAxiosRequestConfig } from "axios";
import type { Logger } from "pino";
import { z } from "zod";

/**
 * Configuration of the ACME driver (RFC 8555 client, acme-client 5) on a web node.
 * `accountKeyFile` defaults to `<stateDir>/acme/account-key.pem`.
 */
export const AcmeConfig = z.strictObject({
  /** The ACME server's directory, e.g. "https://acme-v02.api.letsencrypt.org/directory" (HTTPS only, RFC 8555 section 6.1). */
  directoryUrl: z.url({ protocol: /^https$/, error: "must be an https: URL" }),
  /** Account contact (sent as `mailto:`). */
  email: z.email(),
  /** PEM file of the CA that signed the ACME server's own HTTPS certificate (a private CA such as Pebble's); absent = system CAs. */
  caFile: z.string().startsWith("/").optional(),
  /** PEM (PKCS#8) account key; created (ECDSA P-256, mode 0600) when missing. */
  accountKeyFile: z.string().startsWith("/").optional(),
  /** Skip acme-client's own HTTP-01 self-check before asking the CA to validate (needed when this host cannot resolve the names itself, e.g. tests). */
  skipChallengeVerification: z.boolean().default(false),
  /** First wait between polls of a pending challenge or order (ms); doubles up to 30 s, 10 polls at most. */
  pollIntervalMs: z.number().int().min(100).max(60_000).default(1_000),
});
export type AcmeConfig = z.infer<typeof AcmeConfig>;

/** Where the CA's HTTP-01 validation requests are answered: `/.well-known/acme-challenge/<token>` must serve `keyAuthorization`. */
export interface ChallengeResponder {
  /** Publishes `keyAuthorization` for `token` (token: base64url, checked by the driver). */
  setChallenge(token: string, keyAuthorization: string): Promise<void>;
  /** Unpublishes `token`; must not fail when it is already gone. */
  removeChallenge(token: string): Promise<void>;
}

/** A certificate the CA issued, with the key generated for it on this node. */
export interface IssuedCertificate {
  /** Leaf certificate followed by the intermediates (PEM). */
  certificatePem: string;
  /** ECDSA P-256 key of the leaf (PEM, PKCS#8). Secret: never log it. */
  privateKeyPem: string;
}

/** Why an order failed; callers branch on `code` and `retryable`, never on the message. */
export type AcmeErrorCode =
  | "invalid_argument" // no domains, or a token the CA sent is not base64url
  | "rate_limited" // urn:ietf:params:acme:error:rateLimited (or HTTP 429): retry only after `retryAfter`
  | "challenge_failed" // the CA could not validate HTTP-01 (unauthorized, dns, connection, incorrectResponse, tls, caa)
  | "rejected" // the CA refuses the request itself (rejectedIdentifier, malformed, badCSR, account problems, ...)
  | "server_error" // serverInternal, badNonce or an HTTP 5xx: the CA may succeed later
  | "unreachable" // no answer from the ACME server (connection refused, TLS failure, timeout)
  | "order_failed"; // anything else acme-client reported

/** The one error type of the ACME driver. `problemType` is the RFC 8555 section 6.7 problem type when the CA sent one. */
export class AcmeError extends Error {
  override readonly name = "AcmeError";
  constructor(
    readonly code: AcmeErrorCode,
    message: string,
    readonly retryable: boolean,
    readonly details: { problemType?: string; retryAfter?: string } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Orders certificates over ACME with HTTP-01 challenges (RFC 8555 sections 7.4 and 8.3). */
export interface Acme {
  /**
   * Registers (or finds) the account, orders a certificate for `domains` (1..100 host names, the
   * first is the subject CN, all are SANs), answers every authorization through `challenges`,
   * finalizes with a fresh ECDSA P-256 key and downloads the chain. Nothing is retried inside:
   * a failure throws AcmeError at once and the caller schedules any later attempt.
   * Throws AcmeError (see AcmeErrorCode); an error thrown by `challenges` is rethrown unchanged.
   */
  issue(domains: string[], challenges: ChallengeResponder): Promise<IssuedCertificate>;
}

/** What one `issue` call saw of its HTTP exchanges; acme-client's errors drop the problem document. */
interface Exchange {
  httpsAgent: Agent | undefined;
  log: Logger;
  problem?: AcmeProblem;
  lastUrl?: string;
  failedUrl?: string;
}

const PROBLEM_PREFIX = "urn:ietf:params:acme:error:";
const CHALLENGE_PROBLEMS = new Set(["unauthorized", "dns", "connection", "incorrectResponse", "tls", "caa"]);
const SERVER_PROBLEMS = new Set(["serverInternal", "badNonce"]);
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const DIRECTORY_TIMEOUT_MS = 10_000;
const exchanges = new AsyncLocalStorage<Exchange>();
let hooked = false;

const ProblemDocument = z.object({ type: z.string().optional(), detail: z.string().optional(), subproblems: z.array(z.object({ type: z.string() })).optional() });
const InvalidObject = z.object({
  status: z.literal("invalid"),
  error: ProblemDocument.optional(),
  challenges: z.array(z.object({ error: ProblemDocument.optional() })).optional(),
});

/** Whether `token` is a safe HTTP-01 token: base64url (RFC 8555 section 8.3), 1..256 characters, so usable as a file name. */
export function isChallengeToken(token: string): boolean {
  return TOKEN.test(token);
}

/** The problem type of a problem document, with a compound one reduced to its most telling subproblem. */
function problemType(doc: z.infer<typeof ProblemDocument>): string | undefined {
  const types = [doc.type, ...(doc.subproblems ?? []).map((s) => s.type)].filter((t): t is string => t !== undefined);
  return types.find((t) => t === `${PROBLEM_PREFIX}rateLimited`) ?? types.find((t) => t !== `${PROBLEM_PREFIX}compound`) ?? doc.type;
}

/** Records the problem an ACME response carries: an error response (RFC 8555 section 6.7) or an invalid challenge/authorization/order. */
function recordProblem(exchange: Exchange, response: AxiosResponse): void {
  const retryAfter = typeof response.headers["retry-after"] === "string" ? response.headers["retry-after"] : undefined;
  if (response.status >= 400) {
    const doc = ProblemDocument.safeParse(response.data);
    const detail = doc.success ? (doc.data.detail ?? "") : "";
    exchange.problem = { type: doc.success ? problemType(doc.data) : undefined, detail, status: response.status, ...(retryAfter ? { retryAfter } : {}) };
    return;
  }
  const invalid = InvalidObject.safeParse(response.data);
  if (!invalid.success) {
    if (exchange.problem?.type === `${PROBLEM_PREFIX}badNonce`) delete exchange.problem; // acme-client retried it with a fresh nonce
    return;
  }
  const doc = invalid.data.error ?? invalid.data.challenges?.find((c) => c.error)?.error;
  if (doc) exchange.problem = { type: problemType(doc), detail: doc.detail ?? "", status: response.status };
}

/**
 * Hooks acme-client's shared axios instance once per process: requests made inside an `issue`
 * call use that call's HTTPS agent (the CA in `caFile`) and have their problems recorded, and
 * acme-client's own retry of 429/5xx/network errors is switched off (it would sleep for a
 * rate limit's Retry-After, possibly hours, inside a job).
 */
function hookAxios(): void {
  if (hooked) return;
  hooked = true;
  const defaults = acme.axios.defaults as typeof acme.axios.defaults & { acmeSettings?: { retryMaxAttempts: number } };
  if (defaults.acmeSettings) defaults.acmeSettings.retryMaxAttempts = 0;
  acme.axios.interceptors.request.use((config: InternalAxiosRequestConfig) => {
    const exchange = exchanges.getStore();
    if (exchange) {
      exchange.lastUrl = config.url;
      if (exchange.httpsAgent && !config.httpsAgent) config.httpsAgent = exchange.httpsAgent;
    }
    return config;
  });
  acme.axios.interceptors.response.use(
    (response: AxiosResponse) => {
      const exchange = exchanges.getStore();
      if (exchange) recordProblem(exchange, response);
      return response;
    },
    (error: unknown) => {
      const exchange = exchanges.getStore();
      if (exchange) exchange.failedUrl = exchange.lastUrl;
      throw error;
    },
  );
  acme.setLogger((message) => exchanges.getStore()?.log.debug({ acme: message }, "acme-client"));
}

/** An RFC 8555 section 6.7 problem as the driver saw it: `type` (a URN), `detail`, the HTTP status and any Retry-After header. */
export interface AcmeProblem {
  type?: string;
  detail: string;
  status: number;
  retryAfter?: string;
}

/**
 * The AcmeError for a problem the CA reported: rateLimited (or a bare 429) → "rate_limited",
 * not retryable, with Retry-After in the message and details; unauthorized, dns, connection,
 * incorrectResponse, tls, caa → "challenge_failed", not retryable; serverInternal, badNonce or a
 * bare 5xx → "server_error", retryable; any other ACME type → "rejected", anything else
 * "order_failed", both not retryable. `fallback` is the message used when `detail` is empty.
 */
export function problemError(problem: AcmeProblem, fallback = "", cause?: unknown): AcmeError {
  const short = problem.type?.startsWith(PROBLEM_PREFIX) ? problem.type.slice(PROBLEM_PREFIX.length) : undefined;
  const details = { ...(problem.type ? { problemType: problem.type } : {}), ...(problem.retryAfter ? { retryAfter: problem.retryAfter } : {}) };
  const text = `${problem.detail || fallback}${problem.type ? ` (${problem.type})` : ""}`;
  const options = cause === undefined ? undefined : { cause };
  if (short === "rateLimited" || (!short && problem.status === 429)) {
    return new AcmeError("rate_limited", `ACME rate limit: ${text}${problem.retryAfter ? `; retry after ${problem.retryAfter}` : ""}`, false, details, options);
  }
  if (short && CHALLENGE_PROBLEMS.has(short)) return new AcmeError("challenge_failed", `ACME challenge failed: ${text}`, false, details, options);
  if ((short && SERVER_PROBLEMS.has(short)) || (!short && problem.status >= 500)) return new AcmeError("server_error", `ACME server error: ${text}`, true, details, options);
  return new AcmeError(short ? "rejected" : "order_failed", `ACME order failed: ${text}`, false, details, options);
}

/** Turns what an `issue` call saw into an AcmeError. */
function classify(exchange: Exchange, origin: string, cause: unknown): AcmeError {
  if (exchange.problem) return problemError(exchange.problem, (cause as Error).message, cause);
  if (exchange.failedUrl !== undefined) {
    const toServer = URL.canParse(exchange.failedUrl) && new URL(exchange.failedUrl).origin === origin;
    return toServer
      ? new AcmeError("unreachable", `no answer from the ACME server for ${exchange.failedUrl}`, true, {}, { cause })
      : new AcmeError("challenge_failed", `HTTP-01 self-check of ${exchange.failedUrl} failed`, false, {}, { cause });
  }
  return new AcmeError("order_failed", `ACME order failed: ${(cause as Error).message}`, false, {}, { cause });
}

/** GET of the directory with the driver's CA: fails early, with the socket's own error, when the server cannot be reached. */
function checkDirectory(url: string, agent: Agent | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const options: RequestOptions = { timeout: DIRECTORY_TIMEOUT_MS, ...(agent ? { agent } : {}) };
    const req = get(url, options, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      const retryAfter = res.headers["retry-after"];
      if (status === 429) reject(new AcmeError("rate_limited", `ACME directory answered 429${retryAfter ? `; retry after ${retryAfter}` : ""}`, false, retryAfter ? { retryAfter } : {}));
      else if (status >= 500) reject(new AcmeError("server_error", `ACME directory answered HTTP ${status}`, true));
      else if (status !== 200) reject(new AcmeError("order_failed", `ACME directory answered HTTP ${status}`, false));
      else resolve();
    });
    req.on("timeout", () => req.destroy(new Error(`timed out after ${DIRECTORY_TIMEOUT_MS} ms`)));
    req.on("error", (error) => reject(new AcmeError("unreachable", `cannot reach the ACME directory ${url}: ${error.message}`, true, {}, { cause: error })));
  });
}

/** The account key at `file`, created (ECDSA P-256, PKCS#8 PEM, mode 0600, directory 0700) when missing. */
async function loadAccountKey(file: string, log: Logger): Promise<Buffer> {
  const existing = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
  if (existing) {
    if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
    return existing;
  }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const created = await acme.crypto.createPrivateEcdsaKey();
  try {
    await writeFile(file, created, { flag: "wx", mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return readFile(file); // another order created it meanwhile
    throw error;
  }
  log.info({ file }, "acme account key created");
  return created;
}

/**
 * Builds the ACME driver. `stateDir` is the agent's state directory (for the default account
 * key path). Reads `caFile` on each order, so a replaced file takes effect without a restart.
 * Process-wide: switches off acme-client's internal request retries (see hookAxios).
 */
export function createAcme(cfg: AcmeConfig, parentLog: Logger, stateDir: string): Acme {
  const log = parentLog.child({ component: "acme" });
  const accountKeyFile = cfg.accountKeyFile ?? join(stateDir, "acme", "account-key.pem");
  const origin = new URL(cfg.directoryUrl).origin;
  hookAxios();

  return {
    async issue(domains, challenges) {
      const [commonName] = domains;
      if (commonName === undefined || domains.length > 100) throw new AcmeError("invalid_argument", "an order needs 1..100 domains", false);
      const httpsAgent = cfg.caFile ? new Agent({ ca: await readFile(cfg.caFile, "utf8") }) : undefined;
      const exchange: Exchange = { httpsAgent, log };
      try {
        await checkDirectory(cfg.directoryUrl, httpsAgent);
        const accountKey = await loadAccountKey(accountKeyFile, log);
        const client = new acme.Client({ directoryUrl: cfg.directoryUrl, accountKey, backoffAttempts: 10, backoffMin: cfg.pollIntervalMs, backoffMax: 30_000 });
        const [privateKey, csr] = await acme.crypto.createCsr({ commonName, altNames: domains }, await acme.crypto.createPrivateEcdsaKey());
        let own: unknown;
        const guard = async (fn: () => Promise<void>) => {
          try {
            await fn();
          } catch (error) {
            own = error;
            throw error;
          }
        };
        log.info({ domains }, "acme order started");
        const certificatePem = await exchanges.run(exchange, () =>
          client
            .auto({
              csr,
              email: cfg.email,
              termsOfServiceAgreed: true,
              challengePriority: ["http-01"],
              skipChallengeVerification: cfg.skipChallengeVerification,
              challengeCreateFn: (_authz, challenge, keyAuthorization) =>
                guard(async () => {
                  if (challenge.type !== "http-01") throw new AcmeError("rejected", `the ACME server offers no http-01 challenge (got ${challenge.type})`, false);
                  if (!isChallengeToken(challenge.token)) throw new AcmeError("invalid_argument", "the ACME server sent a challenge token that is not base64url", false);
                  await challenges.setChallenge(challenge.token, keyAuthorization);
                }),
              challengeRemoveFn: (_authz, challenge) => (isChallengeToken(challenge.token) ? challenges.removeChallenge(challenge.token) : Promise.resolve()),
            })
            .catch((error: unknown) => {
              if (error === own) throw error;
              throw classify(exchange, origin, error);
            }),
        );
        log.info({ domains }, "acme certificate issued");
        return { certificatePem, privateKeyPem: privateKey.toString("utf8") };
      } catch (error) {
        if (error instanceof AcmeError) log.warn({ domains, code: error.code, problemType: error.details.problemType, retryAfter: error.details.retryAfter }, "acme order failed");
        throw error;
      } finally {
        httpsAgent?.destroy();
      }
    },
  };
}
