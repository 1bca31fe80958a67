import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, setUnauthenticatedHandler } from "./api";
import { startLive, stopLive } from "./live";
import { navigate } from "./router";
import type { Me } from "./types";
import { useToast } from "./ui";

/** Who is signed in (`undefined` while asking the API, `null` when nobody). */
interface Session {
  me: Me | null | undefined;
  signIn(email: string, password: string): Promise<Me>;
  signOut(): Promise<void>;
}

const SessionContext = createContext<Session>({ me: undefined, signIn: () => Promise.reject(new Error("no session provider")), signOut: async () => undefined });

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

  useEffect(() => {
    setUnauthenticatedHandler(() => {
      setMe((current) => {
        if (current) toast("Your session has ended. Please sign in again.", "error");
        return null;
      });
      stopLive();
      if (location.pathname !== "/login") navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, true);
    });
    api.me().then((value) => {
      setMe(value);
      startLive();
    }, () => setMe(null));
  }, [toast]);

  const signIn = useCallback(async (email: string, password: string) => {
    await api.login(email, password);
    const value = await api.me();
    setMe(value);
    startLive();
    return value;
  }, []);

  const signOut = useCallback(async () => {
    stopLive();
    await api.logout().catch(() => undefined);
    setMe(null);
    navigate("/login", true);
  }, []);

  return <SessionContext.Provider value={{ me, signIn, signOut }}>{children}</SessionContext.Provider>;
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
