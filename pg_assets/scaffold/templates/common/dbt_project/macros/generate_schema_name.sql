{#
  Use a model's `schema` config as the Postgres schema name itself (`staging`,
  `analytics`), not dbt's default `<target schema>_<schema>`: the tables land
  where a reader of the README looks for them, and their names do not change
  with the target.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
