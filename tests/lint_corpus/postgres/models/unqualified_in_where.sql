select
    p.id,
    t.team_name
from {{ ref('people') }} as p
left join {{ ref('teams') }} as t on p.team_id = t.id
where age > 18
