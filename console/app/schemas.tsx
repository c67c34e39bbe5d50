/**
 * Schemas and rules: every event type with its versions, compatibility mode and examples,
 * and which rules and templates read which data fields, with the versions declaring each
 * (what `herald schemas check` holds CI to).
 */
import type { CatalogType } from "../server/views";
import { useApi } from "./api";
import { Facts } from "./facts";
import { pretty } from "./format";
import { navigate } from "./route";

export function SchemasPage() {
  const { data, error } = useApi<{ types: CatalogType[] }>("catalog", 0);
  return (
    <div class="page schemas">
      <h1>Schemas and rules</h1>
      {error && <p class="message error">{error}</p>}
      {data && (
        <nav class="toc" aria-label="Event types">
          {data.types.map((t) => (
            <a href={`#/schemas`} onClick={(e) => (e.preventDefault(), document.getElementById(`type-${t.type}`)?.scrollIntoView())}>
              {t.type}
            </a>
          ))}
        </nav>
      )}
      {data?.types.map((t) => (
        <section class="panel" id={`type-${t.type}`} aria-labelledby={`title-${t.type}`}>
          <h2 id={`title-${t.type}`}>{t.type}</h2>
          <p>{t.description}</p>
          <Facts
            rows={[
              ["owner", t.owner ?? "-"],
              ["compatibility", <code>{t.compatibility}</code>],
              ["versions", t.versions.map((v) => `v${v.version}`).join(", ")],
            ]}
          />
          {t.versions.map((v) => (
            <details>
              <summary>
                v{v.version} schema <span class="hint">{`https://herald.dev/schemas/events/${t.type}/v${v.version}.schema.json`}</span>
              </summary>
              <pre>{pretty(v.schema)}</pre>
            </details>
          ))}
          <h3>Examples</h3>
          <ul>
            {t.examples.map((example) => (
              <li>
                <code>{example.file}</code>{" "}
                <button
                  type="button"
                  onClick={() => {
                    sessionStorage.setItem("herald-console-example", JSON.stringify(example.event));
                    navigate("events");
                  }}
                >
                  Open in Events
                </button>
              </li>
            ))}
          </ul>
          <h3>Rules</h3>
          {t.rules.length === 0 ? (
            <p class="empty">No rule handles {t.type}.</p>
          ) : (
            t.rules.map((rule) => (
              <div class="rule">
                <h4>
                  {rule.rule} <span class="hint">accepts {rule.versions.map((v) => `v${v}`).join(", ")} · sends on {rule.channels.join(", ")}</span>
                </h4>
                <table class="table">
                  <thead>
                    <tr>
                      <th scope="col">field</th>
                      <th scope="col">read by</th>
                      <th scope="col">declared in</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rule.reads.map((read) => {
                      const missing = rule.versions.filter((v) => !read.declaredIn.includes(v));
                      return (
                        <tr>
                          <td>
                            <code>{read.field}</code>
                          </td>
                          <td>{read.where.join("; ")}</td>
                          <td class={missing.length > 0 ? "alert" : ""}>
                            {read.declaredIn.map((v) => `v${v}`).join(", ") || "none"}
                            {missing.length > 0 && ` (missing in ${missing.map((v) => `v${v}`).join(", ")})`}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            ))
          )}
        </section>
      ))}
    </div>
  );
}
