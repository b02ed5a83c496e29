{%- set minimum_age = "(18" -%}
select
    id,
    full_name
from `lint-project.lint.people`
where age > {{ minimum_age }}
