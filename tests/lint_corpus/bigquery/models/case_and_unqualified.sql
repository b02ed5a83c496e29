SELECT
    p.id,
    team_name
FROM {{ ref('people') }} AS p
Inner Join {{ ref('teams') }} AS t ON p.team_id = t.id
