-- Ductile and stiff: Pugh ratio K/G above 1.75 and Young's modulus above a threshold,
-- stiffest first.
--
-- What it finds: one row per prediction with pugh_ratio > $min_pugh_ratio and
-- youngs_modulus > $min_youngs_modulus (GPa), ordered by Young's modulus from high to low
-- (ties by id, then run); optionally only those with formation_energy below
-- $max_formation_energy (eV/atom; stability with respect to the elements, not hull stability).
--
-- Physics:
--   * Pugh, Phil. Mag. 45, 823 (1954): the ratio of bulk to shear modulus K/G separates ductile
--     (K/G > ~1.75) from brittle behaviour; a material that resists shear little relative to
--     compression yields by dislocation glide before it cleaves. For an isotropic solid K/G = 1.75
--     is a Poisson ratio of 0.26 (Frantsevich's criterion), see poisson_ratio. It is a rule of
--     thumb from polycrystalline averages, not a fracture calculation.
--   * Young's modulus E = 9KG / (3K + G) is the uniaxial stiffness; 200 GPa is about structural
--     steel (Fe ~ 210, Ni ~ 200, Cu ~ 130, Al ~ 70, W ~ 410 GPa).
--
-- @param min_pugh_ratio float = 1.75 : keep pugh_ratio (K/G) above this (dimensionless; Pugh 1954)
-- @param min_youngs_modulus float = 200.0 : keep youngs_modulus above this (GPa; 200 ~ steel)
-- @param max_formation_energy float = null : keep formation_energy below this (eV/atom); null: no bound
SELECT
    id,
    name,
    formula,
    youngs_modulus,
    youngs_modulus_std,
    pugh_ratio,
    poisson_ratio,
    bulk_modulus,
    shear_modulus,
    formation_energy,
    ood_score,
    run_id
FROM predictions
WHERE pugh_ratio > $min_pugh_ratio
  AND youngs_modulus > $min_youngs_modulus
  AND ($max_formation_energy IS NULL OR formation_energy < $max_formation_energy)
ORDER BY youngs_modulus DESC, id, run_id
