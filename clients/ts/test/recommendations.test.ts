import assert from "node:assert/strict";
import { test } from "node:test";
import { FitmintApiError, type WorkoutSuggestion } from "@fitmint/sdk";
import { aRun, client, wallet } from "./support.js";

test("recommendations: goals set and refused, workouts that follow the member's runs, products on sale", async () => {
  const fm = client();
  await fm.signIn(wallet("athlete"));
  assert.deepEqual(await fm.recommendations.goals(), { weekly_workouts: null, focus: null });
  assert.deepEqual(await fm.recommendations.setGoals({ weekly_workouts: 3, focus: "run" }),
    { weekly_workouts: 3, focus: "run" });
  await assert.rejects(fm.recommendations.setGoals({ weekly_workouts: 99, focus: null }),
    (error: unknown) => error instanceof FitmintApiError && error.status === 422);

  const first = await fm.recommendations.workouts();
  assert.deepEqual(first.goals, { weekly_workouts: 3, focus: "run" });
  assert.ok(first.data.length > 0 && first.data.every((s) => s.title && s.reason));

  assert.equal((await fm.recordWorkout(aRun(27))).status, "accepted");
  assert.equal((await fm.recordWorkout(aRun(51))).status, "accepted");
  // The runs reach the suggestions through the bus, the analytics store and the online store.
  let after: WorkoutSuggestion[] = first.data;
  for (const deadline = Date.now() + 60_000; JSON.stringify(after) === JSON.stringify(first.data);) {
    assert.ok(Date.now() < deadline, "the suggestions did not change after two runs within 60 s");
    await new Promise((resolve) => setTimeout(resolve, 500));
    after = (await fm.recommendations.workouts()).data;
  }
  assert.ok(after.some((s) => s.activity === "run"));

  const products = await fm.recommendations.products(5);
  assert.ok(products.data.length <= 5);
  for (const product of products.data) {
    assert.ok(product.reason && product.listing_id && product.name);
  }
});
