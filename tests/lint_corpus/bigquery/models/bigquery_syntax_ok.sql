select
    id,
    safe_cast(age as int64) as age_years
from `lint-project.lint.people`
