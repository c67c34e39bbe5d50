/** The herald console: one page per job, chosen by the address's hash (`#/events`), live over server-sent events. */
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { useLiveState } from "./api";
import { DeliveriesPage } from "./deliveries";
import { DlqPage } from "./dlq";
import { EventsPage } from "./events";
import { currentRoute, navigate } from "./route";
import { SchemasPage } from "./schemas";
import { TopologyPage } from "./topology";
import "./styles.css";

const PAGES = [
  { path: "topology", title: "Topology", key: "1", component: TopologyPage },
  { path: "events", title: "Events", key: "2", component: EventsPage },
  { path: "deliveries", title: "Deliveries", key: "3", component: DeliveriesPage },
  { path: "dlq", title: "DLQ", key: "4", component: DlqPage },
  { path: "schemas", title: "Schemas and rules", key: "5", component: SchemasPage },
] as const;

function App() {
  const [route, setRoute] = useState(currentRoute());
  const live = useLiveState();
  useEffect(() => {
    const onHash = () => setRoute(currentRoute());
    // Number keys switch pages, except while typing.
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (event.altKey || event.ctrlKey || event.metaKey || target?.closest("input, textarea, select, [contenteditable]")) return;
      const page = PAGES.find((p) => p.key === event.key);
      if (page) navigate(page.path);
    };
    addEventListener("hashchange", onHash);
    addEventListener("keydown", onKey);
    return () => {
      removeEventListener("hashchange", onHash);
      removeEventListener("keydown", onKey);
    };
  }, []);
  const page = PAGES.find((p) => p.path === route.page) ?? PAGES[0];
  useEffect(() => {
    document.title = `${page.title} · herald console`;
  }, [page]);
  const Page = page.component;
  return (
    <>
      <header class="top">
        <a class="skip" href="#main">
          Skip to content
        </a>
        <span class="brand">herald console</span>
        <nav aria-label="Pages">
          {PAGES.map((p) => (
            <a href={`#/${p.path}`} aria-current={p === page ? "page" : undefined} title={`${p.title} (key ${p.key})`}>
              {p.title}
            </a>
          ))}
        </nav>
        <span class={`live live-${live}`} role="status" aria-live="polite">
          {live === "live" ? "● live" : live === "connecting" ? "○ connecting" : "○ reconnecting…"}
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Page params={route.params} />
      </main>
    </>
  );
}

const root = document.getElementById("app")!;
root.textContent = ""; // the "Loading…" line
render(<App />, root);
