-- Most uncertain or out-of-distribution predictions: the ones to send to DFT next.
--
-- What it finds: one row per prediction that passes at least one of three thresholds, ranked by
-- how far past its worst threshold it is (priority = the largest of the three ratios below, so
-- priority > 1 for every row; ties by id, then run):
--   ood_score / $min_ood_score                          (out of distribution),
--   max_relative_std / $min_relative_std                (spread of the moduli and Debye temperature),
--   formation_energy_std / $min_formation_energy_std    (spread of the formation energy, eV/atom).
-- reason names the criterion that sets the priority. A threshold of 0 switches its criterion off.
--
-- Physics and rationale:
--   * ood_score = recon_error / (95th percentile of the autoencoder's reconstruction errors on the
--     training densities). Above 1 the density is less familiar than 95% of the training set, so
--     every downstream prediction extrapolates. Default threshold 1.
--   * <target>_std is the one-sigma spread of a prediction (same unit as the target).
--     max_relative_std is the largest std/value over bulk, shear and Young's moduli and the Debye
--     temperature (all positive quantities); 0.2 = a 20% one-sigma spread, a coarse default:
--     tune it to the model's validation errors.
--   * A NULL score (e.g. ood_score in runs written before it existed) leaves its criterion out.
--   * Formation energy can be near zero, so its spread is judged in absolute terms: 0.1 eV/atom is
--     about the accuracy of DFT formation energies against experiment; a larger spread means the
--     model cannot tell whether the compound is below its elements.
--   * Labelling the most uncertain and least familiar materials first (uncertainty sampling, as in
--     active learning) adds the most information per DFT calculation.
--
-- @param min_ood_score float = 1.0 : ood_score above this is out of distribution (1 = training 95th percentile)
-- @param min_relative_std float = 0.2 : largest std/value of K, G, E, theta_D above this is uncertain (dimensionless)
-- @param min_formation_energy_std float = 0.1 : formation_energy_std above this is uncertain (eV/atom)
WITH spread AS (
    SELECT
        *,
        greatest(
            bulk_modulus_std / nullif(abs(bulk_modulus), 0),
            shear_modulus_std / nullif(abs(shear_modulus), 0),
            youngs_modulus_std / nullif(abs(youngs_modulus), 0),
            debye_temperature_std / nullif(abs(debye_temperature), 0)
        ) AS max_relative_std
    FROM predictions
),
scored AS (
    SELECT
        *,
        ood_score / nullif($min_ood_score, 0) AS ood_ratio,
        max_relative_std / nullif($min_relative_std, 0) AS std_ratio,
        formation_energy_std / nullif($min_formation_energy_std, 0) AS ef_ratio
    FROM spread
)
SELECT
    id,
    name,
    formula,
    greatest(ood_ratio, std_ratio, ef_ratio) AS priority,
    CASE greatest(ood_ratio, std_ratio, ef_ratio)
        WHEN ood_ratio THEN 'ood'
        WHEN std_ratio THEN 'relative_std'
        ELSE 'formation_energy_std'
    END AS reason,
    ood_score,
    max_relative_std,
    formation_energy_std,
    bulk_modulus,
    formation_energy,
    run_id
FROM scored
WHERE greatest(ood_ratio, std_ratio, ef_ratio) > 1.0
ORDER BY priority DESC, id, run_id
