select
    id,
    full_name
FROM {{ ref('people') }}
Where age > 18
