select
    p.id,
    t.team_name
from {{ ref('people') }} as p
join {{ ref('teams') }} as t on p.team_id = t.id
