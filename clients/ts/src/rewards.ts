/**
 * Workouts earn FIT: record one, get its voucher, and the member's wallet claims it on ActivityRewards; in a
 * tenant paying by epochs, the wallet claims each posted epoch's leaf with its Merkle proof instead.
 */
import { getAddress, type Hex } from "viem";
import type { ChainDirectory } from "./chain.js";
import { FitmintApiError } from "./errors.js";
import { activityRewardsAbi } from "./generated/abis.js";
import type { Http } from "./http.js";
import type { Epoch, EpochProof, EpochsPage, ResponseOf, Voucher, Workout, WorkoutInput, WorkoutRecord }
  from "./types.js";
import { accountOf, sendAndWait, type Wallet } from "./wallet.js";

type RefusedWorkout = { detail: { workout_id: string; status: "rejected" } };

export class Rewards {
  constructor(private readonly http: Http, private readonly directory: ChainDirectory) {}

  /**
   * Records a workout. The anti-cheat rules may refuse it: then the workout is returned all the same, with
   * status "rejected" and every reason, rather than thrown (an invalid request is still thrown).
   */
  async recordWorkout(body: WorkoutInput, options: { idempotencyKey?: string } = {}): Promise<Workout> {
    const { status, body: answer } = await this.http.send<WorkoutRecord | RefusedWorkout>("POST", "/fitness/workouts", {
      body, auth: "required", accept: [422],
      ...(options.idempotencyKey ? { headers: { "Idempotency-Key": options.idempotencyKey } } : {}),
    });
    if (status === 422) {
      const workoutId = (answer as RefusedWorkout).detail?.workout_id;
      if (!workoutId) throw new FitmintApiError(422, answer);  // invalid input, not a refusal of the rules
      return this.workout(workoutId);
    }
    const record = answer as WorkoutRecord;
    return { ...record, reasons: record.rejections.map((r) => r.reason) };
  }

  async workout(workoutId: string): Promise<Workout> {
    const record = await this.http.request<WorkoutRecord>("GET", `/fitness/workouts/${encodeURIComponent(workoutId)}`,
      { auth: "required" });
    return { ...record, reasons: record.rejections.map((r) => r.reason) };
  }

  /** The EIP-712 voucher of an accepted workout (asking again gives the same one). */
  async requestVoucher(workoutId: string, options: { account?: string } = {}): Promise<Voucher> {
    const wire = await this.http.request<ResponseOf<"/rewards/workouts/{workout_id}/voucher", "post">>(
      "POST", `/rewards/workouts/${encodeURIComponent(workoutId)}/voucher`,
      { auth: "required", body: options.account ? { account: options.account } : {} });
    return { ...wire, account: getAddress(wire.account), contract: getAddress(wire.contract),
      attestor: getAddress(wire.attestor), amount: BigInt(wire.amount) };
  }

  /** The member's wallet sends ActivityRewards.claim(voucher, signature); resolves once it is mined. */
  async claimVoucher(wallet: Wallet, voucher: Voucher): Promise<{ txHash: Hex; blockNumber: bigint }> {
    const [account, chain, address] = await Promise.all([accountOf(wallet), this.directory.viemChain(),
      this.directory.address("ActivityRewards")]);
    if (getAddress(voucher.contract) !== address) {
      throw new Error(`the voucher is for ActivityRewards at ${voucher.contract}, but this deployment's is ${address}`);
    }
    const mined = await sendAndWait(this.directory, () => wallet.writeContract({
      account, chain, address, abi: activityRewardsAbi, functionName: "claim",
      args: [{ account: getAddress(voucher.account), amount: voucher.amount, claimId: voucher.claim_id as Hex,
        day: BigInt(voucher.day), deadline: BigInt(voucher.deadline) }, voucher.signature as Hex],
    }));
    return { txHash: mined.txHash, blockNumber: mined.blockNumber };
  }

  /** The closed reward epochs, newest first (public; `before`: the previous page's next_cursor). */
  async epochs(options: { limit?: number; before?: number } = {}): Promise<EpochsPage> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    if (options.before !== undefined) query.set("before", String(options.before));
    const wire = await this.http.request<ResponseOf<"/rewards/epochs", "get">>(
      "GET", `/rewards/epochs${query.size ? `?${query}` : ""}`);
    return { ...wire, data: wire.data.map((epoch): Epoch => ({ ...epoch, total: BigInt(epoch.total),
      accrued: BigInt(epoch.accrued), available: BigInt(epoch.available), claimed_total: BigInt(epoch.claimed_total) })) };
  }

  /** `address`'s leaf of a posted epoch and its proof (public); a 404 in words when it has none. */
  async epochProof(epoch: number, address: string): Promise<EpochProof> {
    const wire = await this.http.request<ResponseOf<"/rewards/epochs/{epoch}/proofs/{address}", "get">>(
      "GET", `/rewards/epochs/${Number(epoch)}/proofs/${getAddress(address)}`);
    return { ...wire, account: getAddress(wire.account), contract: getAddress(wire.contract),
      amount: BigInt(wire.amount), accrued: BigInt(wire.accrued) };
  }

  /** Any wallet sends ActivityRewards.claimEpoch(epoch, index, account, amount, proof); the FIT go to the leaf's account. */
  async claimEpoch(wallet: Wallet, proof: EpochProof): Promise<{ txHash: Hex; blockNumber: bigint }> {
    const [account, chain, address] = await Promise.all([accountOf(wallet), this.directory.viemChain(),
      this.directory.address("ActivityRewards")]);
    if (getAddress(proof.contract) !== address) {
      throw new Error(`the proof is for ActivityRewards at ${proof.contract}, but this deployment's is ${address}`);
    }
    const mined = await sendAndWait(this.directory, () => wallet.writeContract({
      account, chain, address, abi: activityRewardsAbi, functionName: "claimEpoch",
      args: [BigInt(proof.epoch), BigInt(proof.index), getAddress(proof.account), proof.amount, proof.proof as Hex[]],
    }));
    return { txHash: mined.txHash, blockNumber: mined.blockNumber };
  }
}
