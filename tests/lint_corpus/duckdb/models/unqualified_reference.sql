select
    p.id,
    team_name
from {{ ref('people') }} as p
inner join {{ ref('teams') }} as t on p.team_id = t.id
