-- Similar densities: the k materials whose embedding is closest (cosine similarity) to a
-- reference material given by id, id prefix, name or formula.
--
-- What it finds: the reference rows are the latents whose id equals $ref or starts with it
-- (a prefix of 8 or more characters; the table format prints 12), or whose prediction has that
-- name or reduced formula (so "SiO2" takes every SiO2 polymorph as a reference). Every other
-- material with an embedding from the same model is scored by its cosine similarity to the closest
-- reference (closest_reference); the best $k are returned, most similar first (ties by id).
-- Materials screened in several runs appear once (the best 8 * $k latents rows are merged by
-- id, so a material present in more than 8 of the combined runs can crowd out others and
-- fewer than $k rows come back). No rows when nothing matches $ref.
--
-- Physics and caveats:
--   * The embedding summarizes the autoencoder's latent without depending on the cell's origin:
--     per channel mean, std, max, 10/50/90% quantiles and one-cell autocorrelation, each as a
--     z-score over the training densities (statistics stored in the model bundle). Similar
--     embeddings mean similar charge densities as the model sees them -- similar bonding and
--     structure, not necessarily similar composition. On real structures, the 5 nearest share the
--     structure prototype far more often than random neighbours or a composition-only search
--     (benchmarks/QUERY.md). Bundles made before the statistics existed write the raw channel
--     mean and max of the non-negative latent instead: their cosines all lie near 1 and they
--     retrieve the same prototype less often.
--   * A ref that matches nothing returns no rows here; `screener query similar_to` then exits 1
--     with the closest names, and tells on stderr which rows it used as the reference.
--   * Cosine similarity ignores the vectors' lengths: 1 = same direction, 0 = orthogonal.
--   * Embeddings of different models live in different spaces: only rows with the same
--     model_id as a reference are compared.
--   * Embeddings are cast to DOUBLE[] before list_cosine_similarity: with DuckDB 2.0 a NULL
--     embedding read from Parquet otherwise makes the function fail for the whole column, even
--     when a WHERE clause drops that row ("left argument can not contain NULL values").
--   * Cost: one streaming pass over the latents, one cosine per row and reference (a formula with
--     many polymorphs is slower); memory stays small because nothing but the best 8 * $k rows is kept.
--
-- @param ref str : id (or a prefix of 8+ characters), name or reduced formula of the reference material
-- @param k int = 10 : how many similar materials to return
WITH reference AS (
    -- the reference rows, gathered per model: their ids and embeddings as lists
    SELECT model_id, list(id ORDER BY id) AS ids, list(embedding ORDER BY id) AS embeddings
    FROM (
        SELECT DISTINCT l.id, l.model_id, l.embedding::DOUBLE[] AS embedding
        FROM latents AS l
        WHERE l.embedding IS NOT NULL
          AND (
              l.id = $ref
              OR (length($ref) >= 8 AND starts_with(l.id, $ref))
              OR l.id IN (SELECT p.id FROM predictions AS p WHERE p.formula = $ref OR p.name = $ref)
          )
    )
    GROUP BY model_id
),
candidates AS (
    SELECT id, model_id, embedding::DOUBLE[] AS embedding
    FROM latents
    WHERE embedding IS NOT NULL
),
scored AS (
    -- one similarity per reference; keep the best and which reference gave it
    SELECT id, model_id, list_max(sims) AS similarity, ids[list_position(sims, list_max(sims))] AS closest_reference
    FROM (
        SELECT
            c.id,
            c.model_id,
            r.ids,
            list_transform(r.embeddings, lambda e: list_cosine_similarity(c.embedding, e)) AS sims
        FROM candidates AS c
        JOIN reference AS r ON c.model_id IS NOT DISTINCT FROM r.model_id
        WHERE NOT list_contains(r.ids, c.id)
    )
    WHERE NOT isnan(similarity)  -- an all-zero embedding has no direction (NaN would sort first)
    ORDER BY similarity DESC, id
    LIMIT 8 * $k
),
best AS (
    -- merge copies of one material (the same file screened in several runs)
    SELECT id, model_id, max(similarity) AS similarity, arg_max(closest_reference, similarity) AS closest_reference
    FROM scored
    GROUP BY id, model_id
    ORDER BY similarity DESC, id
    LIMIT $k
),
labels AS (
    SELECT id, min(name) AS name, min(formula) AS formula
    FROM predictions
    WHERE id IN (SELECT id FROM best)
    GROUP BY id
)
SELECT
    b.id,
    l.name,
    l.formula,
    b.similarity,
    b.closest_reference,
    b.model_id
FROM best AS b
LEFT JOIN labels AS l USING (id)
ORDER BY b.similarity DESC, b.id
