/** Pages are addressed by the hash: `#/events?source=...&id=...`. */
export function currentRoute(): { page: string; params: URLSearchParams } {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  return { page: path || "topology", params: new URLSearchParams(query ?? "") };
}

export function navigate(page: string, params?: Record<string, string>): void {
  location.hash = `#/${page}${params ? `?${new URLSearchParams(params)}` : ""}`;
}
