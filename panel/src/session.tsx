import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, setUnauthenticatedHandler } from "./api";
import { startLive, stopLive } from "./live";
import { navigate } from "./router";
import type { Me } from "./types";
import { useToast } from "./ui";

/** A second factor: a TOTP code or a single-use recovery code. */
export type SecondFactor = { code: string } | { recoveryCode: string };

/** Who is signed in (`undefined` while asking the API, `null` when nobody), and the ways in and out. */
interface Session {
  me: Me | null | undefined;
  /** First step: the user, or the challenge token to complete with `completeMfa` when the account has TOTP on. */
  signIn(email: string, password: string): Promise<{ me: Me } | { mfaToken: string }>;
  completeMfa(mfaToken: string, factor: SecondFactor): Promise<Me>;
  /** Re-reads the user after the session changed (TOTP enrolled; impersonation started, with the new session's expiry). */
  refresh(expiresAt?: string): Promise<Me>;
  signOut(): Promise<void>;
}

const missing = () => Promise.reject(new Error("no session provider"));
const SessionContext = createContext<Session>({ me: undefined, signIn: missing, completeMfa: missing, refresh: missing, signOut: async () => undefined });

/** Where the current session's expiry (ISO 8601) is kept across reloads of the tab. */
const EXPIRY_KEY = "mpanel_session_expires";
/** How long before expiry the user is warned (ms). */
const EXPIRY_WARNING_MS = 5 * 60_000;
/** setTimeout's largest delay (ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The area a user lands in: platform staff the admin area, tenant users the client area. */
export function homeOf(me: Me): string {
  return me.platformRole ? "/admin" : "/client";
}

/**
 * Holds the session: asks `/api/auth/me` at start, opens the live socket while signed in, and
 * sends the user back to the login page (with `next`) when any call answers 401.
 */
export function SessionProvider({ children }: { children: ReactNode }) {
  const toast = useToast();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [expiresAt, setExpiresAt] = useState<string | null>(() => sessionStorage.getItem(EXPIRY_KEY));

  const remember = useCallback((expiry: string | null) => {
    if (expiry) sessionStorage.setItem(EXPIRY_KEY, expiry);
    else sessionStorage.removeItem(EXPIRY_KEY);
    setExpiresAt(expiry);
  }, []);

  const ended = useCallback(() => {
    setMe((current) => {
      if (current) toast("Your session has ended. Please sign in again.", "error");
      return null;
    });
    remember(null);
    stopLive();
    if (location.pathname !== "/login") navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, true);
  }, [toast, remember]);

  useEffect(() => {
    setUnauthenticatedHandler(ended);
    api.me().then((value) => {
      setMe(value);
      startLive();
    }, () => setMe(null));
  }, [ended]);

  // Session expiry: a warning five minutes before, then back to the login page at the expiry itself.
  useEffect(() => {
    if (!me || !expiresAt) return;
    const left = Date.parse(expiresAt) - Date.now();
    const warn = window.setTimeout(() => toast("Your session ends in 5 minutes. Sign in again to continue afterwards."), Math.min(MAX_TIMER_MS, Math.max(0, left - EXPIRY_WARNING_MS)));
    const end = window.setTimeout(ended, Math.min(MAX_TIMER_MS, Math.max(0, left)));
    return () => {
      window.clearTimeout(warn);
      window.clearTimeout(end);
    };
  }, [me, expiresAt, toast, ended]);

  const enter = useCallback(async (expiry: string) => {
    remember(expiry);
    const value = await api.me();
    setMe(value);
    startLive();
    return value;
  }, [remember]);

  const signIn = useCallback(async (email: string, password: string) => {
    const answer = await api.login(email, password);
    if ("mfaRequired" in answer) return { mfaToken: answer.mfaToken };
    return { me: await enter(answer.expiresAt) };
  }, [enter]);

  const completeMfa = useCallback(async (mfaToken: string, factor: SecondFactor) => {
    const answer = await api.loginTotp(mfaToken, factor);
    return enter(answer.expiresAt);
  }, [enter]);

  const refresh = useCallback(async (expiry?: string) => {
    if (expiry) remember(expiry);
    stopLive();
    const value = await api.me();
    setMe(value);
    startLive();
    return value;
  }, [remember]);

  const signOut = useCallback(async () => {
    stopLive();
    await api.logout().catch(() => undefined);
    remember(null);
    setMe(null);
    navigate("/login", true);
  }, [remember]);

  return <SessionContext.Provider value={{ me, signIn, completeMfa, refresh, signOut }}>{children}</SessionContext.Provider>;
}

/** The session of the nearest SessionProvider. */
export const useSession = () => useContext(SessionContext);

/** The area a page renders in: admin (every tenant) or client (the user's tenant). */
export interface Area {
  kind: "admin" | "client";
  /** URL prefix of the area's pages. */
  base: "/admin" | "/client";
  me: Me;
  /** The tenant a client-area user acts in (their first tenant); null in the admin area. */
  tenantId: string | null;
}

export const AreaContext = createContext<Area | null>(null);

/** The current area (pages render only inside one). */
export function useArea(): Area {
  const area = useContext(AreaContext);
  if (!area) throw new Error("useArea outside an area");
  return area;
}
