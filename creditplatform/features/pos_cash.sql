-- Monthly balances of earlier POS and cash loans: days past due, overall and recent.
-- Float sums and means add exact decimals (DECIMAL(38, 10)): order-independent, see store.py.
SELECT
    SK_ID_CURR,
    count(*) AS POS_MONTHS_COUNT,
    max(SK_DPD) AS POS_DPD_MAX,
    avg(CAST(SK_DPD > 0 AS INTEGER)) AS POS_DPD_SHARE,
    max(CAST(SK_DPD > 0 AND MONTHS_BALANCE >= -12 AS INTEGER)) AS POS_DPD_12M,
    max(MONTHS_BALANCE) AS POS_MONTHS_BALANCE_MAX,
    avg(CAST(NAME_CONTRACT_STATUS = 'Completed' AS INTEGER)) AS POS_COMPLETED_SHARE,
    mean(CAST(CNT_INSTALMENT_FUTURE AS DECIMAL(38, 10))) AS POS_INSTALMENT_FUTURE_MEAN
FROM raw.pos_cash_balance
WHERE month = $month
GROUP BY SK_ID_CURR
