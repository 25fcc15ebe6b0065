-- omop-ddl.sql — the five OMOP CDM v5.4 tables this example fills, in schema :"schema" (psql variable; load-omop.ts
-- substitutes it). Columns, types and NOT NULL constraints follow the OHDSI CommonDataModel v5.4 PostgreSQL DDL
-- (github.com/OHDSI/CommonDataModel, inst/ddl/5.4/postgresql/OMOPCDM_postgresql_5.4_ddl.sql): every required
-- column of each table is here, plus the optional columns this example uses; the other optional columns are left out.
CREATE SCHEMA IF NOT EXISTS :"schema";

CREATE TABLE :"schema".person (
  person_id integer NOT NULL,
  gender_concept_id integer NOT NULL,
  year_of_birth integer NOT NULL,
  month_of_birth integer NULL,
  day_of_birth integer NULL,
  birth_datetime timestamp NULL,
  race_concept_id integer NOT NULL,
  ethnicity_concept_id integer NOT NULL,
  person_source_value varchar(50) NULL,
  gender_source_value varchar(50) NULL
);

CREATE TABLE :"schema".observation_period (
  observation_period_id integer NOT NULL,
  person_id integer NOT NULL,
  observation_period_start_date date NOT NULL,
  observation_period_end_date date NOT NULL,
  period_type_concept_id integer NOT NULL
);

CREATE TABLE :"schema".condition_occurrence (
  condition_occurrence_id integer NOT NULL,
  person_id integer NOT NULL,
  condition_concept_id integer NOT NULL,
  condition_start_date date NOT NULL,
  condition_type_concept_id integer NOT NULL,
  condition_source_value varchar(50) NULL
);

CREATE TABLE :"schema".measurement (
  measurement_id integer NOT NULL,
  person_id integer NOT NULL,
  measurement_concept_id integer NOT NULL,
  measurement_date date NOT NULL,
  measurement_type_concept_id integer NOT NULL,
  value_as_number numeric NULL,
  value_as_concept_id integer NULL,
  measurement_source_value varchar(50) NULL,
  value_source_value varchar(50) NULL
);

CREATE TABLE :"schema".observation (
  observation_id integer NOT NULL,
  person_id integer NOT NULL,
  observation_concept_id integer NOT NULL,
  observation_date date NOT NULL,
  observation_type_concept_id integer NOT NULL,
  value_as_number numeric NULL,
  value_as_concept_id integer NULL,
  observation_source_value varchar(50) NULL,
  value_source_value varchar(50) NULL
);

-- Primary keys as in OMOPCDM_postgresql_5.4_primary_keys.sql, and the indexes the cohort query joins on.
ALTER TABLE :"schema".person ADD CONSTRAINT xpk_person PRIMARY KEY (person_id);
ALTER TABLE :"schema".observation_period ADD CONSTRAINT xpk_observation_period PRIMARY KEY (observation_period_id);
ALTER TABLE :"schema".condition_occurrence ADD CONSTRAINT xpk_condition_occurrence PRIMARY KEY (condition_occurrence_id);
ALTER TABLE :"schema".measurement ADD CONSTRAINT xpk_measurement PRIMARY KEY (measurement_id);
ALTER TABLE :"schema".observation ADD CONSTRAINT xpk_observation PRIMARY KEY (observation_id);
CREATE INDEX idx_measurement_person_concept ON :"schema".measurement (person_id, measurement_concept_id);
CREATE INDEX idx_observation_person_concept ON :"schema".observation (person_id, observation_concept_id);
CREATE INDEX idx_condition_person_concept ON :"schema".condition_occurrence (person_id, condition_concept_id);
