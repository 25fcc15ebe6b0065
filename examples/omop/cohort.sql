-- cohort.sql — the Rotterdam → GBSG validation study's columns (examples/rotterdam: the model's eight features and the
-- label event5y) rebuilt from OMOP CDM v5.4 tables loaded by load-omop.ts. Concept ids: README.md "Concepts".
-- One row per woman with a primary breast cancer (4112853) inside an observation period; a feature or outcome with
-- no record comes back NULL, which fedval reads as missing, exactly like an empty CSV cell.
SELECT
  (EXTRACT(YEAR FROM co.condition_start_date)::int - p.year_of_birth) AS age,
  meno.value_as_number::int AS meno,
  CASE size.value_as_concept_id
    WHEN 2000000111 THEN '<=20'
    WHEN 2000000112 THEN '20-50'
    WHEN 2000000113 THEN '>50'
  END AS size,
  grade.value_as_number AS grade,
  nodes.value_as_number AS nodes,
  pgr.value_as_number AS pgr,
  er.value_as_number AS er,
  hormon.value_as_number::int AS hormon,
  outcome.value_as_number::int AS event5y
FROM cdm.person p
JOIN cdm.condition_occurrence co
  ON co.person_id = p.person_id AND co.condition_concept_id = 4112853
JOIN cdm.observation_period op
  ON op.person_id = p.person_id AND co.condition_start_date BETWEEN op.observation_period_start_date AND op.observation_period_end_date
LEFT JOIN cdm.measurement size ON size.person_id = p.person_id AND size.measurement_concept_id = 2000000101
LEFT JOIN cdm.measurement grade ON grade.person_id = p.person_id AND grade.measurement_concept_id = 2000000102
LEFT JOIN cdm.measurement nodes ON nodes.person_id = p.person_id AND nodes.measurement_concept_id = 2000000103
LEFT JOIN cdm.measurement pgr ON pgr.person_id = p.person_id AND pgr.measurement_concept_id = 2000000104
LEFT JOIN cdm.measurement er ON er.person_id = p.person_id AND er.measurement_concept_id = 2000000105
LEFT JOIN cdm.observation meno ON meno.person_id = p.person_id AND meno.observation_concept_id = 2000000201
LEFT JOIN cdm.observation hormon ON hormon.person_id = p.person_id AND hormon.observation_concept_id = 2000000202
LEFT JOIN cdm.observation outcome ON outcome.person_id = p.person_id AND outcome.observation_concept_id = 2000000301
WHERE p.gender_concept_id = 8532
ORDER BY p.person_id
