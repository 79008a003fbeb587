-- Run summary: per run, how many files were predicted and how many failed, by stage and error
-- type.
--
-- What it finds: for each run_id, one 'predicted' row (n = prediction rows, n_materials = distinct
-- ids, n_predicted_stable = rows with formation_energy below $max_formation_energy, n_ood = rows
-- with ood_score above $ood_threshold), then one 'error' row per (stage, error_type) with its count,
-- the number of distinct files (by id, or path when the file could not be hashed) and one example
-- message. Rows are ordered by run_id, predicted before errors, then by count (largest first).
-- Stages: discover | read | validate | regrid | predict | duplicate.
--
-- Physics: "predicted stable" means below the elements (formation energy < 0 eV/atom by default),
-- not on the convex hull; ood_score > 1 means less familiar than 95% of the training densities.
--
-- @param max_formation_energy float = 0.0 : count formation_energy below this as predicted stable (eV/atom)
-- @param ood_threshold float = 1.0 : count ood_score above this as out of distribution (1 = training 95th percentile)
WITH predicted AS (
    SELECT
        run_id,
        'predicted' AS status,
        NULL::VARCHAR AS stage,
        NULL::VARCHAR AS error_type,
        count(*) AS n,
        count(DISTINCT id) AS n_materials,
        count(*) FILTER (WHERE formation_energy < $max_formation_energy) AS n_predicted_stable,
        count(*) FILTER (WHERE ood_score > $ood_threshold) AS n_ood,
        NULL::VARCHAR AS example
    FROM predictions
    GROUP BY run_id
),
failed AS (
    SELECT
        run_id,
        'error' AS status,
        stage,
        error_type,
        count(*) AS n,
        count(DISTINCT coalesce(id, path)) AS n_materials,
        NULL::BIGINT AS n_predicted_stable,
        NULL::BIGINT AS n_ood,
        min(message) AS example
    FROM errors
    GROUP BY run_id, stage, error_type
)
SELECT * FROM predicted
UNION ALL
SELECT * FROM failed
ORDER BY run_id NULLS LAST, status DESC, n DESC, stage NULLS FIRST, error_type NULLS FIRST
