/**
 * The signed-in member's recommendations (GET /recommendations/...): products of their tenant on sale now
 * that none of their wallets holds, best first, and workouts, challenges or a rest day from their own history
 * and goals; each with a reason to show as it is. Goals (workouts a week, an activity to focus on) are theirs
 * to set. A 503 (the recommendation service unreachable) is a FitmintApiError with the reason.
 */
import type { Http } from "./http.js";
import type { Goals, ProductRecommendations, WorkoutSuggestions } from "./types.js";

export class Recommendations {
  constructor(private readonly http: Http) {}

  /** Up to `limit` (1-50, default 10) products for the member, each with its open listing and a reason. */
  products(limit?: number): Promise<ProductRecommendations> {
    return this.http.request("GET", "/recommendations/products", { auth: "required", query: { limit } });
  }

  /** Up to `limit` (1-10, default 3) workouts, challenges or a rest day, with the goals they aim at. */
  workouts(limit?: number): Promise<WorkoutSuggestions> {
    return this.http.request("GET", "/recommendations/workouts", { auth: "required", query: { limit } });
  }

  /** The member's goals (nulls: none set). */
  goals(): Promise<Goals> {
    return this.http.request("GET", "/recommendations/goals", { auth: "required" });
  }

  /** Sets both goals (null clears one); a goal out of range or an unknown activity is a 422. */
  setGoals(goals: Goals): Promise<Goals> {
    return this.http.request("PUT", "/recommendations/goals", { auth: "required", body: goals });
  }
}
