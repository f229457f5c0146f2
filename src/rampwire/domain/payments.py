"""Payment instructions: how the user pays, or how the payout reaches them.

Ten instruction types, each with its own address fields, as Fireblocks' ``paymentInstructions``
(its Webhooks v2 document) defines them. ``PaymentInstructions`` is a union tagged by
``type``; every member keeps the provider's fields in snake_case so a dialect can write them
back without loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, ClassVar, Literal, TypeAlias

from pydantic import ConfigDict, Field

_FORBID = ConfigDict(extra="forbid")


class PixKeyType(StrEnum):
    CPF = "CPF"
    CNPJ = "CNPJ"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    RANDOM = "RANDOM"


class MobileMoneyProvider(StrEnum):
    MPESA = "MPESA"
    AIRTEL = "AIRTEL"
    MTN = "MTN"
    TIGO = "TIGO"
    ORANGE = "ORANGE"


@dataclass(frozen=True, kw_only=True)
class AccountHolder:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    name: str
    address: str | None = None
    city: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    subdivision: str | None = None  # ISO 3166-2
    postal_code: str | None = None


@dataclass(frozen=True, kw_only=True)
class BankAddress:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    street_name: str | None = None
    building_number: str | None = None
    postal_code: str | None = None
    city: str | None = None
    subdivision: str | None = None
    district: str | None = None
    country: str | None = None


@dataclass(frozen=True, kw_only=True)
class IbanAddress:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    account_holder: AccountHolder
    iban: str


@dataclass(frozen=True, kw_only=True)
class SwiftAddress:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    account_holder: AccountHolder
    swift_code: str
    routing_number: str | None = None


@dataclass(frozen=True, kw_only=True)
class AchAddress:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    account_holder: AccountHolder
    bank_account_number: str
    routing_number: str
    bank_name: str | None = None
    account_type: Literal["CHECKING", "SAVINGS"] | None = None


@dataclass(frozen=True, kw_only=True)
class WireAddress:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    account_holder: AccountHolder
    bank_account_number: str
    routing_number: str
    bank_name: str | None = None
    bank_address: BankAddress | None = None


@dataclass(frozen=True, kw_only=True)
class SpeiAddress:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    account_holder: AccountHolder
    bank_account_number: str
    bank_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class PixAddress:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    account_holder: AccountHolder
    pix_key: str
    key_type: PixKeyType
    bank_name: str | None = None
    bank_code: str | None = None


@dataclass(frozen=True, kw_only=True)
class LocalBankTransferAddress:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    account_holder: AccountHolder
    account_number: str
    bank_name: str
    bank_code: str


@dataclass(frozen=True, kw_only=True)
class SepaAddress:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    account_holder: AccountHolder
    iban: str
    bic: str | None = None
    bank_name: str | None = None
    bank_branch: str | None = None
    bank_address: str | None = None  # free text here, unlike WIRE's structured bank address
    purpose_code: str | None = None
    tax_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class MobileMoneyAddress:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    account_holder: AccountHolder
    mobile_phone_number: str  # E.164
    provider: MobileMoneyProvider
    beneficiary_document_id: str | None = None
    beneficiary_relationship: str | None = None


@dataclass(frozen=True, kw_only=True)
class BlockchainAddress:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    address: str
    tag: str | None = None  # memo or destination tag
    network: str | None = None


@dataclass(frozen=True, kw_only=True)
class IbanInstructions:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: Literal["IBAN"] = "IBAN"
    address: IbanAddress
    reference_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class SwiftInstructions:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: Literal["SWIFT"] = "SWIFT"
    address: SwiftAddress
    reference_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AchInstructions:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: Literal["ACH"] = "ACH"
    address: AchAddress
    reference_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class WireInstructions:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: Literal["WIRE"] = "WIRE"
    address: WireAddress
    reference_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class SpeiInstructions:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: Literal["SPEI"] = "SPEI"
    address: SpeiAddress
    reference_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class PixInstructions:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: Literal["PIX"] = "PIX"
    address: PixAddress
    reference_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class LocalBankTransferInstructions:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: Literal["LOCAL_BANK_TRANSFER"] = "LOCAL_BANK_TRANSFER"
    address: LocalBankTransferAddress
    reference_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class SepaInstructions:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: Literal["EUROPEAN_SEPA"] = "EUROPEAN_SEPA"
    address: SepaAddress
    reference_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class MobileMoneyInstructions:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: Literal["MOBILE_MONEY"] = "MOBILE_MONEY"
    address: MobileMoneyAddress
    reference_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class BlockchainInstructions:
    __pydantic_config__: ClassVar[ConfigDict] = _FORBID
    type: Literal["BLOCKCHAIN"] = "BLOCKCHAIN"
    address: BlockchainAddress
    reference_id: str | None = None


PaymentInstructions: TypeAlias = Annotated[
    IbanInstructions
    | SwiftInstructions
    | AchInstructions
    | WireInstructions
    | SpeiInstructions
    | PixInstructions
    | LocalBankTransferInstructions
    | SepaInstructions
    | MobileMoneyInstructions
    | BlockchainInstructions,
    Field(discriminator="type"),
]
"""Where and how to pay, tagged by ``type``."""

PAYMENT_INSTRUCTION_TYPES: tuple[str, ...] = (
    "IBAN",
    "SWIFT",
    "ACH",
    "WIRE",
    "SPEI",
    "PIX",
    "LOCAL_BANK_TRANSFER",
    "EUROPEAN_SEPA",
    "MOBILE_MONEY",
    "BLOCKCHAIN",
)
