// Small DOM helpers: the app is plain TypeScript and DOM, no framework.

export type Child = Node | string | number | bigint | null | undefined | false;
type Props = Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>;

/** Creates an element: `on<event>` props become listeners, `true` booleans bare attributes, others
 * attributes (null/undefined/false ones are left out). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {},
                                                         ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (typeof value === "function") element.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) element.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  element.append(...nodes(children));
  return element;
}

function nodes(children: Child[]): (Node | string)[] {
  return children.filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : String(c)));
}

/** The element with this id; a missing one is a bug in index.html, said in words. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`index.html has no element #${id}`);
  return element as T;
}

export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren(...nodes(children));
}

/** A table whose cells carry their column name (the phone layout shows it before each value). */
export function table(caption: string, columns: string[], rows: Child[][]): HTMLTableElement {
  return h("table", {},
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, ...rows.map((row) => h("tr", {}, ...row.map((cell, i) => h("td", { "data-label": columns[i] }, cell))))));
}

/** `0x1234…abcd`, the whole value in a tooltip. */
export function shortHex(value: string): HTMLElement {
  const short = value.length > 14 ? `${value.slice(0, 6)}…${value.slice(-4)}` : value;
  return h("span", { class: "hex", title: value }, short);
}

/** An item id (a 256-bit number) as `#125028…6166`, the whole id in a tooltip. */
export function shortId(value: string): HTMLElement {
  const short = value.length > 12 ? `#${value.slice(0, 6)}…${value.slice(-4)}` : `#${value}`;
  return h("span", { title: value }, short);
}

/** Runs `action` with `button` disabled (and busy) meanwhile, so one click sends one request. */
export async function busy<T>(button: HTMLButtonElement, action: () => Promise<T>): Promise<T> {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}
