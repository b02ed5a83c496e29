select
    id,
    payload:customer.id::string as customer_id
from {{ ref('people') }}
