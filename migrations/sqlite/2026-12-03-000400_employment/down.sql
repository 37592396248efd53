DROP TABLE people_employment;
