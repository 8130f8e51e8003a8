from tests.factories.tenancy import (
    ConsumerFactory,
    MerchantAdminFactory,
    MerchantFactory,
    OperatorFactory,
    StoreFactory,
    StoreManagerFactory,
    TechnicianFactory,
    UserFactory,
)

__all__ = [
    "ConsumerFactory",
    "MerchantAdminFactory",
    "MerchantFactory",
    "OperatorFactory",
    "StoreFactory",
    "StoreManagerFactory",
    "TechnicianFactory",
    "UserFactory",
]
