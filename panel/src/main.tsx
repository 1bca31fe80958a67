import { lazy, StrictMode, Suspense, useEffect, type ComponentType } from "react";
import { createRoot } from "react-dom/client";
import { useLiveState } from "./live";
import { AccountPage } from "./pages/account";
import { ApiKeysPage } from "./pages/api-keys";
import { AuditPage } from "./pages/audit";
import { InvoicePage, InvoicesPage, ProductsPage, SubscriptionsPage } from "./pages/billing";
import { BackupsPage } from "./pages/backups";
import { AdminDashboard, ClientOverview } from "./pages/dashboard";
import { DatabasePage, DatabasesPage } from "./pages/databases";
import { DomainPage, DomainsPage } from "./pages/domains";
import { EmailPage } from "./pages/email";
import { FileEditorPage, FilesPage } from "./pages/files";
import { JobPage, JobsPage } from "./pages/jobs";
import { LoginPage } from "./pages/login";
import { ServersPage } from "./pages/servers";
import { SitePage, SitesPage } from "./pages/sites";
import { SslPage } from "./pages/ssl";
import { TenantPage, TenantsPage } from "./pages/tenants";
import { UsersPage } from "./pages/users";
import { Link, match, navigate, useLocation } from "./router";
import { AreaContext, homeOf, SessionProvider, useSession, type Area } from "./session";
import { ConfirmProvider, NotFound, ToastProvider } from "./ui";
import "./styles.css";

type Page = ComponentType<{ params: Record<string, string> }>;

/** Pages with a heavy library (uPlot charts, xterm.js) load on first visit, outside the main bundle. */
const ServerPage = lazy(() => import("./pages/server").then((m) => ({ default: m.ServerPage })));
const TerminalPage = lazy(() => import("./pages/terminal").then((m) => ({ default: m.TerminalPage })));
interface Route { path: string; page: Page; nav?: string; adminOnly?: boolean }

/** Every page, relative to its area (`/admin` or `/client`); `nav` names it in the menu. */
const routes: Route[] = [
  { path: "", page: AdminDashboard, nav: "Dashboard", adminOnly: true },
  { path: "", page: ClientOverview, nav: "Overview" },
  { path: "/tenants", page: TenantsPage, nav: "Tenants", adminOnly: true },
  { path: "/tenants/:id", page: TenantPage, adminOnly: true },
  { path: "/servers", page: ServersPage, nav: "Servers", adminOnly: true },
  { path: "/servers/:id", page: ServerPage, adminOnly: true },
  { path: "/sites", page: SitesPage, nav: "Sites" },
  { path: "/sites/:id", page: SitePage },
  { path: "/cloudpods/:id/terminal", page: TerminalPage },
  { path: "/cloudpods/:id/files", page: FilesPage },
  { path: "/cloudpods/:id/files/edit", page: FileEditorPage },
  { path: "/domains", page: DomainsPage, nav: "Domains & DNS" },
  { path: "/domains/:id", page: DomainPage },
  { path: "/email", page: EmailPage, nav: "Email" },
  { path: "/databases", page: DatabasesPage, nav: "Databases" },
  { path: "/databases/:id", page: DatabasePage },
  { path: "/ssl", page: SslPage, nav: "SSL" },
  { path: "/backups", page: BackupsPage, nav: "Backups" },
  { path: "/jobs", page: JobsPage, nav: "Jobs" },
  { path: "/jobs/:id", page: JobPage },
  { path: "/users", page: UsersPage, nav: "Users", adminOnly: true },
  { path: "/products", page: ProductsPage, nav: "Products", adminOnly: true },
  { path: "/subscriptions", page: SubscriptionsPage, nav: "Subscriptions" },
  { path: "/invoices", page: InvoicesPage, nav: "Invoices" },
  { path: "/invoices/:id", page: InvoicePage },
  { path: "/audit", page: AuditPage, nav: "Audit log", adminOnly: true },
  { path: "/account", page: AccountPage, nav: "Account security" },
  { path: "/api-keys", page: ApiKeysPage, nav: "API keys" },
];

function routesOf(kind: Area["kind"]): Route[] {
  return routes.filter((r) => (kind === "admin" ? r.page !== ClientOverview : !r.adminOnly));
}

function LiveIndicator() {
  const state = useLiveState();
  const label = state === "live" ? "Live" : state === "connecting" ? "Connecting" : "Offline";
  return <span className={`live live-${state}`} data-live={state} title="Live updates">{label}</span>;
}

function Shell({ area, pathname }: { area: Area; pathname: string }) {
  const { signOut } = useSession();
  const rest = pathname.slice(area.base.length);
  const found = routesOf(area.kind).map((r) => ({ route: r, params: match(r.path, rest) })).find((m) => m.params);
  const Page = found?.route.page;
  return (
    <AreaContext.Provider value={area}>
      <a className="skip" href="#main">Skip to content</a>
      {area.me.impersonatedBy && (
        <div className="banner" role="alert" data-impersonating>
          <span><strong>Impersonating</strong> this tenant&apos;s owner: everything you do is recorded in the audit log under your name.</span>
          <button type="button" onClick={() => void signOut()}>End impersonation</button>
        </div>
      )}
      <div className="shell">
        <header className="topbar">
          <Link to={area.base} className="brand">mPanel <small>{area.kind === "admin" ? "admin" : "client"}</small></Link>
          <LiveIndicator />
          <span className="who muted">{area.me.platformRole ?? "tenant user"}</span>
          <button type="button" onClick={() => void signOut()}>Sign out</button>
        </header>
        <nav className="sidenav" aria-label="Main">
          {routesOf(area.kind).filter((r) => r.nav).map((r) => {
            const to = area.base + r.path;
            const current = r.path === "" ? rest === "" || rest === "/" : rest.startsWith(r.path);
            return <Link key={r.path} to={to} aria-current={current ? "page" : undefined}>{r.nav}</Link>;
          })}
        </nav>
        <main id="main" tabIndex={-1}>
          <Suspense fallback={<p aria-busy="true">Loading…</p>}>
            {Page && found?.params ? <Page key={pathname} params={found.params} /> : <NotFound what="page" />}
          </Suspense>
        </main>
      </div>
    </AreaContext.Provider>
  );
}

function App() {
  const { me } = useSession();
  const { pathname } = useLocation();
  const kind = pathname.startsWith("/admin") ? "admin" : pathname.startsWith("/client") ? "client" : null;
  const wrongArea = Boolean(me && ((kind === "admin" && !me.platformRole) || (kind === "client" && me.tenants.length === 0)));
  useEffect(() => {
    if (me === null && pathname !== "/login") navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, true);
    else if (me && (kind === null || wrongArea)) navigate(homeOf(me), true);
    // A session that policy holds until TOTP is enrolled can reach only the account page.
    else if (me?.mfaSetupRequired && !pathname.endsWith("/account")) navigate(`${homeOf(me)}/account`, true);
  }, [me, pathname, kind, wrongArea]);
  if (me === undefined) return <p className="loading" aria-busy="true">Loading…</p>;
  if (me === null || pathname === "/login") return <LoginPage />;
  if (kind === null || wrongArea) return null;
  const area: Area = { kind, base: kind === "admin" ? "/admin" : "/client", me, tenantId: kind === "client" ? (me.tenants[0] ?? null) : null };
  return <Shell area={area} pathname={pathname} />;
}

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <ToastProvider>
      <ConfirmProvider>
        <SessionProvider>
          <App />
        </SessionProvider>
      </ConfirmProvider>
    </ToastProvider>
  </StrictMode>,
);
