import type { ComponentChildren } from "preact";

/** A label/value list (`<dl>`); rows whose value is undefined are left out. */
export function Facts({ rows, id }: { rows: ReadonlyArray<readonly [string, ComponentChildren]>; id?: string }) {
  return (
    <dl class="facts" id={id}>
      {rows
        .filter(([, value]) => value !== undefined)
        .map(([label, value]) => (
          <>
            <dt>{label}</dt>
            <dd data-fact={label}>{value}</dd>
          </>
        ))}
    </dl>
  );
}
