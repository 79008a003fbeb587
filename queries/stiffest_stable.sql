-- Stiffest predicted-stable candidates: formation energy below a threshold, ranked by bulk modulus
-- (stiffest first).
--
-- What it finds: one row per prediction whose blended formation energy is below
-- $max_formation_energy (eV/atom), ordered by the blended bulk modulus K (GPa) from high to low
-- (ties by id, then run). Rows without a bulk modulus are left out. A material screened in several
-- runs appears once per run (see run_id).
--
-- Physics:
--   * Formation energy < 0 eV/atom means the compound is predicted to lie below its elements in
--     their reference states: "predicted stable with respect to the elements". That is NOT
--     thermodynamic stability, which needs the energy above the convex hull of all competing
--     phases (not predicted here). Send survivors to a hull check before believing them.
--     formation_energy_std (eV/atom) says how close to the threshold a row really is; typical
--     errors of ML formation energies are ~0.05-0.1 eV/atom.
--   * The bulk modulus K = -V dP/dV (Voigt-Reuss-Hill average) is the resistance to uniform
--     compression; diamond ~440 GPa, steel ~160 GPa, NaCl ~25 GPa.
--   * ood_score > 1 means the charge density is less familiar to the autoencoder than 95% of
--     the training densities: trust such predictions less, or cap them with $max_ood_score.
--
-- @param max_formation_energy float = 0.0 : keep formation_energy below this (eV/atom)
-- @param max_ood_score float = null : drop ood_score above this (1 = training 95th percentile); null: no bound
SELECT
    id,
    name,
    formula,
    bulk_modulus,
    bulk_modulus_std,
    shear_modulus,
    formation_energy,
    formation_energy_std,
    ood_score,
    run_id
FROM predictions
WHERE formation_energy < $max_formation_energy
  AND bulk_modulus IS NOT NULL
  AND ($max_ood_score IS NULL OR ood_score <= $max_ood_score)
ORDER BY bulk_modulus DESC, id, run_id
