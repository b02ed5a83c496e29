select
    id,
    full_name
from `lint-project.lint.people`
