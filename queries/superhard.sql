-- Superhard candidates: predicted Vickers hardness (Chen's model) at or above a threshold,
-- hardest first.
--
-- What it finds: one row per prediction with vickers_hardness >= $min_hardness (GPa),
-- ordered by hardness from high to low (ties by id, then run); optionally only those with
-- formation_energy below $max_formation_energy (eV/atom; a negative formation energy is stability
-- with respect to the elements, not hull stability).
--
-- Physics:
--   * Chen, Niu, Li and Li, Intermetallics 19, 1275 (2011): Hv = 2 (k^2 G)^0.585 - 3 (GPa) with
--     k = G/K, the inverse Pugh ratio; an empirical fit to a few dozen hard compounds. The pipeline
--     clips negative values at 0. Hardness grows with the shear modulus and with brittleness
--     (high G/K): diamond (K ~ 443, G ~ 535 GPa) gives Hv ~ 95 GPa, WC (385, 280) ~ 34 GPa.
--   * "Superhard" conventionally means Hv >= 40 GPa.
--   * Hv + 3 = 2 (G^3 / K^2)^0.585, so relative errors grow: d ln(Hv+3) = 1.755 d ln G - 1.17 d ln K.
--     vickers_hardness_std below propagates shear_modulus_std and bulk_modulus_std to first order,
--     assuming independent errors (GPa). A 10% error in G alone is an ~18% error in Hv + 3.
--
-- @param min_hardness float = 40.0 : keep vickers_hardness at or above this (GPa; 40 = superhard)
-- @param max_formation_energy float = null : keep formation_energy below this (eV/atom); null: no bound
SELECT
    id,
    name,
    formula,
    vickers_hardness,
    (vickers_hardness + 3.0) * sqrt(
        power(1.755 * shear_modulus_std / nullif(shear_modulus, 0), 2)
        + power(1.17 * bulk_modulus_std / nullif(bulk_modulus, 0), 2)
    ) AS vickers_hardness_std,
    shear_modulus,
    bulk_modulus,
    pugh_ratio,
    formation_energy,
    ood_score,
    run_id
FROM predictions
WHERE vickers_hardness >= $min_hardness
  AND ($max_formation_energy IS NULL OR formation_energy < $max_formation_energy)
ORDER BY vickers_hardness DESC, id, run_id
