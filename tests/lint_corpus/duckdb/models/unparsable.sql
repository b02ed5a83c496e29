selec id
frm {{ ref('people') }}
