/**
 * What the Node tests share: the stack's URLs and what tests/clients/test_ts_sdk.py prepared for them
 * (fresh wallet keys with ETH for gas, a listed catalog item), a client as a Node app would make it,
 * and earning FIT the way a member does.
 */
import assert from "node:assert/strict";
import { createWalletClient, http, type Hex, type WalletClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import WebSocket from "ws";
import { Fitmint, type FitmintOptions, type WebSocketConstructor, type WorkoutInput } from "@fitmint/sdk";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through tests/clients/test_ts_sdk.py`);
  return value;
}

export const apiUrl = required("FITMINT_API_URL");
export const rpcUrl = required("FITMINT_RPC_URL");

/** The listing the Python fixture `listed_item` made: 1.5 FIT each, 5 in supply. */
export const fixtureListing = JSON.parse(required("FITMINT_TEST_LISTING")) as {
  listing_id: number; item_id: string; image_cid: string; name: string;
};

/** A listing of its own for the gasless purchase (the fixture listing's supply is counted by another test). */
export const gaslessListing = JSON.parse(required("FITMINT_TEST_GASLESS_LISTING")) as { listing_id: number };

/** A fresh wallet with 1 ETH (and no FIT), one per role a test needs: `wallet("buyer")`. */
const keys = Object.fromEntries(required("FITMINT_TEST_KEYS").split(",").map((pair) => pair.split("="))) as
  Record<string, Hex>;
export function wallet(role: string): WalletClient {
  const key = keys[role];
  if (!key) throw new Error(`no test key for ${role}: test_ts_sdk.py prepares ${Object.keys(keys).join(", ")}`);
  return createWalletClient({ account: privateKeyToAccount(key), transport: http(rpcUrl) });
}

export function client(options: Partial<FitmintOptions> = {}): Fitmint {
  return new Fitmint({ apiUrl, WebSocket: WebSocket as unknown as WebSocketConstructor, ...options });
}

/** A plausible 5 km run in 30 minutes that ended `hoursAgo` hours ago (earns 50 FIT). */
export function aRun(hoursAgo = 3, overrides: Partial<WorkoutInput> = {}): WorkoutInput {
  const end = new Date(Date.now() - hoursAgo * 3_600_000);
  const start = new Date(end.getTime() - 30 * 60_000);
  return { activity: "run", started_at: start.toISOString(), ended_at: end.toISOString(), distance_m: 5000,
    steps: 4545, calories: 300, avg_heart_rate: 150, max_heart_rate: 178, ...overrides };
}

/** The member earns FIT as the app would have them: a workout, its voucher, the wallet's claim. */
export async function earn(fm: Fitmint, member: WalletClient) {
  const workout = await fm.recordWorkout(aRun());
  assert.equal(workout.status, "accepted", workout.reasons.join("; "));
  const voucher = await fm.requestVoucher(workout.id);
  const claim = await fm.claimVoucher(member, voucher);
  await fm.waitForIndexed(claim.blockNumber);
  return { workout, voucher, claim };
}

/** Resolves with the first value `take` returns for a pushed item, or fails after `timeoutMs`. */
export function waitFor<T>(what: string, timeoutMs: number, subscribe: (resolve: (value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not arrive within ${timeoutMs} ms`)), timeoutMs);
    subscribe((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}
