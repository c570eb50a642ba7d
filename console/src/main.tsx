// The console's shell: sign-in with a token, the pages the token's role may see, and the
// navigation between them.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, onSignedOut, setToken, token, type Access, type WhoAmI } from "./api";
import { href, usePlace } from "./hooks";
import { Failure } from "./ui";
import { Overview } from "./pages/overview";
import { Orders } from "./pages/orders";
import { Order } from "./pages/order";
import { Exceptions } from "./pages/exceptions";
import { Inventory } from "./pages/inventory";
import { Warehouse } from "./pages/warehouse";
import { Finance } from "./pages/finance";
import { Audit } from "./pages/audit";
import "./style.css";

interface PageEntry {
  path: string;
  title: string;
  /** Whether a token of this access may see the page. */
  may: (access: Access) => boolean;
}

const PAGES: PageEntry[] = [
  { path: "overview", title: "Overview", may: (a) => a.read },
  { path: "orders", title: "Orders", may: (a) => a.read },
  { path: "exceptions", title: "Exceptions", may: (a) => a.read },
  { path: "inventory", title: "Inventory", may: (a) => a.read },
  { path: "warehouse", title: "Warehouse", may: (a) => a.read },
  { path: "finance", title: "Finance", may: (a) => a.read },
  { path: "audit", title: "Audit", may: (a) => a.read || a.log },
];

function SignIn(props: { onSignedIn: (who: WhoAmI) => void }) {
  const [text, setText] = useState("");
  const [error, setError] = useState<Error | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setToken(text.trim());
    try {
      props.onSignedIn(await get<WhoAmI>("/v1/whoami"));
    } catch (failure) {
      setToken(null);
      setError(failure instanceof Error ? failure : new Error(String(failure)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>Order ledger</h1>
      <form onSubmit={submit}>
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
          placeholder="the token `ledger token` printed"
        />
        <button type="submit" disabled={busy || text.trim() === ""}>
          Sign in
        </button>
      </form>
      {error && <Failure error={error} />}
      <p class="muted">
        The token stays in this tab only. Its role decides what you see: analysts and auditors read, finance also
        reconciles.
      </p>
    </main>
  );
}

function Page(props: { who: WhoAmI }) {
  const place = usePlace();
  const [first, ...rest] = place.path;
  const visible = PAGES.filter((page) => page.may(props.who.access));
  const current = visible.find((page) => page.path === first) ?? visible[0];
  if (!current) {
    return <Failure error={new Error(`A ${props.who.roles.join(", ")} token may see none of the console's pages.`)} />;
  }
  switch (first === "orders" && rest.length > 0 ? "order" : current.path) {
    case "overview":
      return <Overview params={place.params} />;
    case "orders":
      return <Orders params={place.params} />;
    case "order":
      return <Order id={rest[0]} access={props.who.access} />;
    case "exceptions":
      return <Exceptions />;
    case "inventory":
      return <Inventory params={place.params} />;
    case "warehouse":
      return <Warehouse params={place.params} />;
    case "finance":
      return <Finance access={props.who.access} />;
    default:
      return <Audit access={props.who.access} params={place.params} />;
  }
}

function App() {
  const [who, setWho] = useState<WhoAmI | undefined>(undefined);
  const [checking, setChecking] = useState(token() !== null);
  const place = usePlace();

  useEffect(() => onSignedOut(() => setWho(undefined)), []);
  useEffect(() => {
    if (token() === null) return;
    get<WhoAmI>("/v1/whoami")
      .then(setWho)
      .catch((error) => {
        if (error instanceof ApiError && error.status === 401) setToken(null);
      })
      .finally(() => setChecking(false));
  }, []);

  if (checking) return <p class="muted">Signing in…</p>;
  if (!who) return <SignIn onSignedIn={setWho} />;
  const signOut = () => {
    setToken(null);
    setWho(undefined);
  };
  return (
    <>
      <header>
        <strong>Order ledger</strong>
        <nav>
          {PAGES.filter((page) => page.may(who.access)).map((page) => (
            <a href={href(page.path)} class={(place.path[0] ?? "overview") === page.path ? "here" : ""}>
              {page.title}
            </a>
          ))}
        </nav>
        <span class="who" data-testid="who">
          {who.token} · {who.roles.join(", ")}
        </span>
        <button type="button" class="quiet" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        <Page who={who} />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
