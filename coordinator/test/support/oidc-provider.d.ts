/** The part of `oidc-provider` v9's API the tests use (the package ships no type declarations). */
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  /** An account's claims as released to the client (`sub` plus what the granted scopes map to). */
  export interface AccountClaims {
    sub: string;
    [claim: string]: unknown;
  }

  export interface Account {
    accountId: string;
    claims(): Promise<AccountClaims> | AccountClaims;
  }

  export interface Configuration {
    clients: Array<Record<string, unknown>>;
    claims?: Record<string, string[]>;
    cookies?: { keys: string[] };
    features?: Record<string, { enabled: boolean }>;
    pkce?: { required(): boolean };
    findAccount(ctx: unknown, sub: string): Promise<Account | undefined> | Account | undefined;
  }

  export default class Provider {
    constructor(issuer: string, configuration: Configuration);
    /** A Node request listener serving every endpoint. */
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
  }
}
