// The hub's shell: who is signed in, the navigation their entitlements allow, and the page of the path.
import { lazy, Suspense, useCallback, useEffect, useState } from "react";
import { api, ApiError, onUnauthorised } from "./api/client";
import type { Me } from "./api/types";
import { Loading, ErrorBox } from "./components/States";
import { entitledMarkets, hasApiChannel } from "./markets";
import { Dashboard } from "./pages/Dashboard";
import { SignIn } from "./pages/SignIn";
import { Link, navigate, usePath } from "./router";
import { SessionContext } from "./session";

// every page but the first is its own chunk, fetched when first opened
const Explorer = lazy(() => import("./pages/Explorer"));
const Curves = lazy(() => import("./pages/Curves"));
const ApiKeys = lazy(() => import("./pages/ApiKeys"));

type State = { kind: "loading" } | { kind: "signed-out" } | { kind: "failed"; error: unknown } | { kind: "in"; me: Me };

export function Nav({ me, path, onSignOut }: { me: Me; path: string; onSignOut: () => void }) {
  const items: [string, string][] = [
    ["/", "Dashboard"],
    ["/explorer", "Explorer"],
    ["/curves", "Curves"],
  ];
  // API keys belong to the api channel: a tenant without it (the CAISO pilot) has no such page
  if (hasApiChannel(me)) items.push(["/api-keys", "API keys"]);
  return (
    <header className="topbar">
      <span className="brand">254Carbon · Market Intelligence</span>
      <nav>
        {items.map(([href, label]) => (
          <Link key={href} href={href} className={path === href ? "active" : ""}>
            {label}
          </Link>
        ))}
      </nav>
      <span className="who" title={me.subject}>
        {me.tenant} · {entitledMarkets(me, "prices").join(", ") || "no markets"}
      </span>
      <button type="button" className="small" onClick={onSignOut}>
        Sign out
      </button>
    </header>
  );
}

function Page({ path, me }: { path: string; me: Me }) {
  if (path === "/" || path === "/dashboard") return <Dashboard />;
  if (path.startsWith("/explorer")) return <Explorer />;
  if (path.startsWith("/curves")) return <Curves />;
  if (path.startsWith("/api-keys") && hasApiChannel(me)) return <ApiKeys />;
  return (
    <div className="state empty">
      No page at <code>{path}</code>. <Link href="/">Go to the dashboard</Link>.
    </div>
  );
}

export function App() {
  const path = usePath();
  const [state, setState] = useState<State>({ kind: "loading" });

  const load = useCallback(() => {
    setState({ kind: "loading" });
    api
      .me()
      .then((me) => setState({ kind: "in", me }))
      .catch((error) =>
        setState(error instanceof ApiError && error.status === 401 ? { kind: "signed-out" } : { kind: "failed", error }),
      );
  }, []);

  useEffect(load, [load]);
  useEffect(() => onUnauthorised(() => setState({ kind: "signed-out" })), []);

  const signOut = useCallback(() => {
    api
      .signOut()
      .catch(() => undefined)
      .finally(() => {
        setState({ kind: "signed-out" });
        navigate("/");
      });
  }, []);

  if (state.kind === "loading") return <Loading what="your session" />;
  if (state.kind === "failed") return <ErrorBox error={state.error} retry={load} />;
  if (state.kind === "signed-out") return <SignIn onSignedIn={(me) => setState({ kind: "in", me })} />;
  const { me } = state;
  return (
    <SessionContext.Provider value={{ me, signOut }}>
      <Nav me={me} path={path} onSignOut={signOut} />
      <main>
        <Suspense fallback={<Loading what="the page" />}>
          <Page path={path} me={me} />
        </Suspense>
      </main>
    </SessionContext.Provider>
  );
}
