select
    id
from {{ ref('people') }}
{% for condition in ['age > 18', 'team_id is not null'] %}
where {{ condition }}
{% endfor %}
