// The reference dApp: wires the screens to the page and marks when the first screen is usable.
import "./styles.css";
import { describeError, platformChain } from "./platform";
import { setUpAccount } from "./screens/account";
import { refreshBalance, setUpBalance } from "./screens/balance";
import { refreshIdentity, setUpIdentity } from "./screens/identity";
import { refreshMarket, setUpMarket } from "./screens/market";
import { followNotifications, markSeen } from "./screens/notifications";
import { setUpWorkout } from "./screens/workout";
import { onChange } from "./session";
import { currentScreen, setUpRouter } from "./ui/router";
import { announce } from "./ui/status";

const chain = platformChain(); // asked at once: connecting needs it
chain.catch(() => {}); // said in words below; no unhandled rejection meanwhile

setUpAccount(chain);
setUpWorkout(() => void refreshBalance());
setUpBalance();
setUpMarket(() => void refreshBalance());
setUpIdentity();
// The analytics screen (and its chart library) is fetched the first time it is opened.
const openAnalytics = () => void import("./screens/analytics").then((screen) => screen.enterAnalytics(),
  (error: unknown) => announce(`The analytics screen could not be loaded: ${describeError(error)}`, "error"));
setUpRouter({ balance: () => void refreshBalance(), market: () => void refreshMarket(),
              identity: () => void refreshIdentity(), notifications: () => void markSeen(),
              analytics: openAnalytics });

// The status line is about what was just done on the screen being left.
window.addEventListener("hashchange", () => announce(""));

let signedIn = false;
let address: string | null = null;
onChange(({ wallet, member }) => {
  if ((member !== null) !== signedIn) {
    signedIn = member !== null;
    void followNotifications(signedIn);
    if (signedIn && currentScreen() === "identity") void refreshIdentity();
    if (signedIn && currentScreen() === "analytics") openAnalytics();
  }
  if ((wallet?.address ?? null) !== address) {
    address = wallet?.address ?? null;
    if (currentScreen() === "balance") void refreshBalance();
  }
});

chain.then(() => {
  document.body.dataset.ready = "true";
  performance.mark("fitmint:interactive");
}, (error: unknown) => {
  document.body.dataset.ready = "error";
  announce(`The fitmint platform cannot be reached: ${describeError(error)}`, "error");
});
