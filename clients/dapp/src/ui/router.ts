// One screen at a time, chosen by the URL's fragment (#market...): the nav links are plain links, so the
// back button, bookmarks and keyboard work as everywhere else. Entering a screen moves the focus to its
// heading (screen readers announce where they are) and lets it refresh what it shows.
const SCREENS = ["account", "workout", "balance", "market", "notifications", "identity", "analytics"] as const;
export type Screen = (typeof SCREENS)[number];

export function currentScreen(): Screen {
  const wanted = window.location.hash.slice(1);
  return (SCREENS as readonly string[]).includes(wanted) ? (wanted as Screen) : "account";
}

export function setUpRouter(onEnter: Partial<Record<Screen, () => void>>): void {
  const show = (moveFocus: boolean) => {
    const screen = currentScreen();
    for (const id of SCREENS) {
      const section = document.getElementById(id);
      if (section) section.hidden = id !== screen;
    }
    for (const link of document.querySelectorAll<HTMLAnchorElement>(".site-nav a")) {
      if (link.hash === `#${screen}`) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const heading = document.getElementById(`${screen}-title`);
    document.title = `${heading?.textContent ?? screen} · fitmint`;
    if (moveFocus) heading?.focus();
    onEnter[screen]?.();
  };
  window.addEventListener("hashchange", () => show(true));
  show(false);
}
