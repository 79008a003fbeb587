-- High Debye temperature: predictions ranked by Debye temperature, highest first.
--
-- What it finds: one row per prediction with a Debye temperature, ordered by debye_temperature (K)
-- from high to low (ties by id, then run); optionally only those at or above
-- $min_debye_temperature and with formation_energy below $max_formation_energy (eV/atom; stability
-- with respect to the elements, not hull stability).
--
-- Physics:
--   * theta_D = (hbar / k_B) (6 pi^2 n)^(1/3) v_m, with n the number density of atoms and v_m the mean
--     sound velocity, which grows with the elastic moduli and falls with the mass density: stiff,
--     light, strongly bonded lattices have high theta_D (diamond ~2230 K, Si ~645 K, Cu ~343 K,
--     Pb ~105 K).
--   * A high theta_D marks candidates for high lattice thermal conductivity (Slack's model scales
--     with theta_D^3) and raises the phonon energy scale of conventional superconductivity
--     (McMillan: Tc is proportional to theta_D at fixed coupling). It says nothing by itself about
--     electrons.
--
-- @param min_debye_temperature float = null : keep debye_temperature at or above this (K); null: no bound
-- @param max_formation_energy float = null : keep formation_energy below this (eV/atom); null: no bound
SELECT
    id,
    name,
    formula,
    debye_temperature,
    debye_temperature_std,
    youngs_modulus,
    density,
    formation_energy,
    ood_score,
    run_id
FROM predictions
WHERE debye_temperature IS NOT NULL
  AND ($min_debye_temperature IS NULL OR debye_temperature >= $min_debye_temperature)
  AND ($max_formation_energy IS NULL OR formation_energy < $max_formation_energy)
ORDER BY debye_temperature DESC, id, run_id
