import assert from "node:assert/strict";
import { test } from "node:test";
import { getAddress } from "viem";
import { abis, FitmintApiError, formatFit, parseFit, type ContractName } from "@fitmint/sdk";
import { apiUrl, client } from "./support.js";

test("chain info is typed, kept, and revalidated with its ETag: the second read is a 304 served from the cache", async () => {
  const statuses: number[] = [];
  const recording: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (String(input).endsWith("/chain")) statuses.push(response.status);
    return response;
  };
  const fm = client({ fetch: recording });
  const first = await fm.chain();
  const second = await fm.chain();
  assert.deepEqual(statuses, [200, 304]);
  assert.equal(second, first);
  assert.equal(first.chain_id, 31337);
  assert.equal(first.token.symbol, "FIT");
  assert.equal(first.token.decimals, 18);
  for (const name of ["FitToken", "ActivityRewards", "FitItems", "Marketplace"]) {
    const contract = first.contracts[name]!;
    assert.equal(contract.address, getAddress(contract.address), `${name}'s address is checksummed`);
    assert.equal(contract.abi_url, `/chain/abis/${name}`);
  }
  assert.equal(first.eip712.permit.primaryType, "Permit");
  assert.equal(first.eip712.permit.domain.verifyingContract, first.token.address);
  assert.ok(first.siwe.domain && first.siwe.uri);
});

test("the ABIs the SDK was generated with are the ones the API serves for the deployment", async () => {
  const chain = await client().chain();
  for (const name of Object.keys(abis) as ContractName[]) {
    const served = await (await fetch(apiUrl + chain.contracts[name]!.abi_url)).json();
    assert.deepEqual(served, JSON.parse(JSON.stringify(abis[name])), `${name}: run python -m scripts.clients.generate`);
  }
});

test("FIT amounts: bigint wei from decimal text and back", () => {
  assert.equal(parseFit("1.5"), 1_500_000_000_000_000_000n);
  assert.equal(parseFit("20"), 20n * 10n ** 18n);
  assert.equal(formatFit(1_500_000_000_000_000_000n), "1.5");
  assert.equal(formatFit(parseFit("0.000000000000000001")), "0.000000000000000001");
  assert.throws(() => parseFit("1,5"), /not an amount of FIT: "1,5"/);
  assert.throws(() => parseFit("-1"), RangeError);
});

test("an API refusal is a FitmintApiError with the server's reason", async () => {
  const fm = client();
  await assert.rejects(fm.listing(9_000_000_000), (error: unknown) => {
    assert.ok(error instanceof FitmintApiError);
    assert.equal(error.status, 404);
    assert.match(error.detail, /no listing 9000000000/);
    assert.equal(fm.describeError(error), error.detail);
    return true;
  });
  await assert.rejects(fm.me(), (error: unknown) => error instanceof FitmintApiError && error.status === 401
    && /not signed in/.test(fm.describeError(error)));
});
