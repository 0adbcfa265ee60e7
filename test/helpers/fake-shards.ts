// The first two stages of the model tests' pipelines: token shards from the fake-codes fixture stage
// (test/fixtures/stages), small enough for a 2-layer GPT to train on in seconds. Interpolated into a
// `stages:` mapping at two spaces, so a test's own YAML keeps its line numbers.
export const FAKE_CODES_AND_SHARD = `  codes:
    uses: fake-codes
    with: {seed: 5, frames: [40, 120, 100]}
  shard:
    uses: shard
    needs: {codes: codes}
    with: {layout: gpt2o, shard_tokens: 500}`;
